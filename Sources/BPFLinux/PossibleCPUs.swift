import Foundation

/// The kernel's possible CPUs (`/sys/devices/system/cpu/possible`, e.g. `0-3` or `0,2-5`): per-CPU map
/// values hold one 8-byte-aligned slot for each.
///
/// ```swift
/// let slots = try PossibleCPUs.count   // 4
/// ```
public enum PossibleCPUs {
    /// The number of possible CPUs (the highest listed CPU plus one).
    public static var count: Int {
        get throws(BPFError) {
            let path = "/sys/devices/system/cpu/possible"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw BPFError.invalidArgument("cannot read \(path)")
            }
            guard let n = parse(text) else { throw BPFError.invalidArgument("cannot parse \(path): \(text)") }
            return n
        }
    }

    /// Parses a CPU list like `0-3,5` into the count of CPUs (highest + 1).
    public static func parse(_ text: String) -> Int? {
        var highest = -1
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let bounds = part.split(separator: "-")
            guard let last = bounds.last, let value = Int(last), bounds.count <= 2 else { return nil }
            highest = max(highest, value)
        }
        return highest >= 0 ? highest + 1 : nil
    }
}
