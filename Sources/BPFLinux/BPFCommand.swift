import BPFObject
/// A `bpf(2)` command, with the kernel's `BPF_*` number.
///
/// ```swift
/// print(BPFCommand.mapCreate.kernelName)   // BPF_MAP_CREATE
/// ```
public enum BPFCommand: Int32, Sendable, Hashable, CaseIterable {
    case mapCreate = 0, mapLookupElem, mapUpdateElem, mapDeleteElem, mapGetNextKey, progLoad
    case objPin, objGet, progAttach, progDetach, progTestRun, progGetNextID, mapGetNextID
    case progGetFDByID, mapGetFDByID, objGetInfoByFD, progQuery, rawTracepointOpen, btfLoad
    case btfGetFDByID, taskFDQuery, mapLookupAndDeleteElem, mapFreeze, btfGetNextID
    case mapLookupBatch, mapLookupAndDeleteBatch, mapUpdateBatch, mapDeleteBatch
    case linkCreate, linkUpdate, linkGetFDByID, linkGetNextID, enableStats, iterCreate
    case linkDetach, progBindMap, tokenCreate

    /// The kernel's name, e.g. `BPF_MAP_CREATE`.
    public var kernelName: String {
        switch self {
        case .mapCreate: "BPF_MAP_CREATE"
        case .mapLookupElem: "BPF_MAP_LOOKUP_ELEM"
        case .mapUpdateElem: "BPF_MAP_UPDATE_ELEM"
        case .mapDeleteElem: "BPF_MAP_DELETE_ELEM"
        case .mapGetNextKey: "BPF_MAP_GET_NEXT_KEY"
        case .progLoad: "BPF_PROG_LOAD"
        case .objPin: "BPF_OBJ_PIN"
        case .objGet: "BPF_OBJ_GET"
        case .progAttach: "BPF_PROG_ATTACH"
        case .progDetach: "BPF_PROG_DETACH"
        case .progTestRun: "BPF_PROG_TEST_RUN"
        case .progGetNextID: "BPF_PROG_GET_NEXT_ID"
        case .mapGetNextID: "BPF_MAP_GET_NEXT_ID"
        case .progGetFDByID: "BPF_PROG_GET_FD_BY_ID"
        case .mapGetFDByID: "BPF_MAP_GET_FD_BY_ID"
        case .objGetInfoByFD: "BPF_OBJ_GET_INFO_BY_FD"
        case .progQuery: "BPF_PROG_QUERY"
        case .rawTracepointOpen: "BPF_RAW_TRACEPOINT_OPEN"
        case .btfLoad: "BPF_BTF_LOAD"
        case .btfGetFDByID: "BPF_BTF_GET_FD_BY_ID"
        case .taskFDQuery: "BPF_TASK_FD_QUERY"
        case .mapLookupAndDeleteElem: "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
        case .mapFreeze: "BPF_MAP_FREEZE"
        case .btfGetNextID: "BPF_BTF_GET_NEXT_ID"
        case .mapLookupBatch: "BPF_MAP_LOOKUP_BATCH"
        case .mapLookupAndDeleteBatch: "BPF_MAP_LOOKUP_AND_DELETE_BATCH"
        case .mapUpdateBatch: "BPF_MAP_UPDATE_BATCH"
        case .mapDeleteBatch: "BPF_MAP_DELETE_BATCH"
        case .linkCreate: "BPF_LINK_CREATE"
        case .linkUpdate: "BPF_LINK_UPDATE"
        case .linkGetFDByID: "BPF_LINK_GET_FD_BY_ID"
        case .linkGetNextID: "BPF_LINK_GET_NEXT_ID"
        case .enableStats: "BPF_ENABLE_STATS"
        case .iterCreate: "BPF_ITER_CREATE"
        case .linkDetach: "BPF_LINK_DETACH"
        case .progBindMap: "BPF_PROG_BIND_MAP"
        case .tokenCreate: "BPF_TOKEN_CREATE"
        }
    }
}
