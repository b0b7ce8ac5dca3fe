import BPFObject
import Testing

/// Split BTF (a kernel module's types on the kernel's): ids and string offsets continue the base's.
@Suite("Split BTF")
struct SplitBTFTests {
    /// A base with `int` and `struct task`, and a module declaring a kfunc that takes a task.
    static func blobs() -> (base: [UInt8], module: [UInt8]) {
        var base = BTFBuilder()
        let int = base.int("int", size: 4, signed: true)
        let task = base.structure("task", size: 8, [("pid", int, 0, 0), ("tgid", int, 32, 0)])
        var module = BTFBuilder(splitOn: base)
        let pointer = module.pointer(task)
        let prototype = module.functionPrototype(returning: int, [("t", pointer)])
        _ = module.function("mod_kfunc", prototype)
        _ = module.structure("mod_state", size: 4, [("count", int, 0, 0)])
        return (base.bytes, module.bytes)
    }

    @Test("a module's types follow the base's ids and name the base's types")
    func splitOnBase() throws {
        let (baseBytes, moduleBytes) = Self.blobs()
        let base = try BTF(bytes: baseBytes)
        let module = try BTF(splitBytes: moduleBytes, base: base)
        #expect(base.types.count == 3)
        #expect(module.types.count == 7)
        let kfunc = try #require(module.typeID(named: "mod_kfunc", kind: .function))
        #expect(kfunc == 5)
        let prototype = try #require(module[module[kfunc]!.referencedType])
        guard case .parameters(let parameters) = prototype.detail else {
            Issue.record("mod_kfunc's type is not a prototype: \(prototype.kind)")
            return
        }
        #expect(parameters.map(\.name) == ["t"])
        #expect(module.typeName(parameters[0].type) == "struct task *")
        // The base's names resolve through the split BTF, and the module's own structs have sizes.
        #expect(module.typeID(named: "task", kind: .structure) == 2)
        #expect(try module.size(of: try #require(module.typeID(named: "mod_state"))) == 4)
        // The base is untouched.
        #expect(base.typeID(named: "mod_kfunc") == nil)
    }

    @Test("a truncated module blob is refused, naming the place")
    func truncated() throws {
        let (baseBytes, moduleBytes) = Self.blobs()
        let base = try BTF(bytes: baseBytes)
        #expect(throws: ObjectError.self) { try BTF(splitBytes: Array(moduleBytes.dropLast(12)), base: base) }
    }
}
