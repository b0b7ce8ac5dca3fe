import BPFCore
import BPFRuntime

/// Assembles and runs a program; returns r0.
func run(_ source: String, memory: [UInt8] = [], helpers: HelperRegistry = .conformance,
         limit: UInt64 = 1_000_000) throws -> UInt64 {
    var memory = memory
    let program = try Assembler().assembleProgram(source)
    return try Interpreter(program: program, helpers: helpers, options: ExecutionOptions(instructionLimit: limit))
        .run(memory: &memory).returnValue
}

/// Assembles and runs a program, returning the error it stopped with (nil if it finished).
func runError(_ source: String, memory: [UInt8] = [], helpers: HelperRegistry = .conformance,
              limit: UInt64 = 1_000_000) throws -> RuntimeError? {
    var memory = memory
    let program = try Assembler().assembleProgram(source)
    do {
        _ = try Interpreter(program: program, helpers: helpers, options: ExecutionOptions(instructionLimit: limit))
            .run(memory: &memory)
        return nil
    } catch {
        return error
    }
}
