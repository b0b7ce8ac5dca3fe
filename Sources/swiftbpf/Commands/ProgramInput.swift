import BPFCore
import Foundation

/// Reads a program file: assembly text, raw bytecode (`.bin`, `.bpf`), hex text (`.hex`), or a
/// bpf_conformance test (`.data`, whose `-- mem` becomes the default input memory).
struct ProgramInput {
    var program: Program
    var memory: [UInt8]?

    static func load(path: String) throws -> ProgramInput {
        let url = URL(fileURLWithPath: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read '\(path)'")
        }
        let bytes = [UInt8](data)
        switch url.pathExtension.lowercased() {
        case "bin", "bpf":
            return ProgramInput(program: try decode(bytes, path: path))
        case "hex":
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                return ProgramInput(program: try decode(try Hex.bytes(text), path: path))
            } catch let error as Hex.ParseError {
                throw CLIError("\(path): \(error)")
            }
        case "data":
            let text = String(decoding: bytes, as: UTF8.self)
            let test: ConformanceTest
            do { test = try ConformanceTest(parsing: text) } catch { throw CLIError("\(path): \(error)") }
            let slots: [Instruction]
            do { slots = try test.program() } catch { throw CLIError("\(path): \(error)") }
            do {
                return ProgramInput(program: try Program(validating: slots), memory: test.memory)
            } catch { throw CLIError("\(path): \(error)") }
        default:
            guard let text = String(data: data, encoding: .utf8) else {
                return ProgramInput(program: try decode(bytes, path: path))
            }
            do {
                return ProgramInput(program: try Assembler().assembleProgram(text))
            } catch {
                throw CLIError("\(path):\(error)")
            }
        }
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> Program {
        do { return try Program(bytes: bytes) } catch { throw CLIError("\(path): \(error)") }
    }
}

/// A command-line failure with a message for the user.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
