extension BTF {
    /// The names a function's `btf_decl_tag("PREFIXname")` tags give (on the function itself, not on
    /// a parameter), in BTF order: `exception_callback:` names a program's exception callback
    /// (`__exception_cb(fn)`), which a loader links into the program as libbpf does.
    public func functionTags(of function: String, prefix: String) -> [String] {
        guard !declTags.isEmpty, let id = typeID(named: function, kind: .function) else { return [] }
        return declTags.compactMap { i in
            let t = types[i]
            guard t.kind == .declTag, t.referencedType == id, t.name.hasPrefix(prefix),
                  case .componentIndex(let index) = t.detail, index == -1 else { return nil }
            return String(t.name.dropFirst(prefix.count))
        }
    }

    /// The prefix of the tag that names a program's exception callback.
    public static let exceptionCallbackTag = "exception_callback:"
}
