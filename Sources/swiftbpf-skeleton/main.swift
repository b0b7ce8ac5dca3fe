// The BPFSkeletons plugin's tool (small, so a package that applies the plugin does not build the CLI):
//
//   swiftbpf-skeleton skeleton OBJ.o NAME OUTPUT.swift   the embedded skeleton (`swiftbpf gen skeleton --embed`)
//   swiftbpf-skeleton vmlinux BTF OUTPUT.h               C declarations of a BTF file (`swiftbpf btf dump --format c`)
import BPFObject
import Foundation
import SwiftBPF

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("swiftbpf-skeleton: \(message)\n".utf8))
    exit(1)
}

func read(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read '\(path)'") }
    return [UInt8](data)
}

func write(_ text: String, to path: String) {
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) } catch { fail("cannot write '\(path)': \(error.localizedDescription)") }
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "skeleton" where arguments.count == 4:
    let bytes = read(arguments[1])
    do {
        let object = try ObjectFile(bytes: bytes)
        write(try SkeletonGenerator(object: object, name: arguments[2], embedding: bytes).source(), to: arguments[3])
    } catch {
        fail("\(arguments[1]): \(error)")
    }
case "vmlinux" where arguments.count == 3:
    do {
        write(try BTFCFormatter(btf: BTF(fileBytes: read(arguments[1]))).format(), to: arguments[2])
    } catch {
        fail("\(arguments[1]): \(error)")
    }
default:
    fail("usage: swiftbpf-skeleton skeleton OBJ.o NAME OUTPUT.swift | vmlinux BTF OUTPUT.h")
}
