// A libFuzzer target for the varlink frame decoder (FrameSplitter) and the call and reply decoders (JSON parser,
// VarlinkCall, VarlinkReply). It is not a SwiftPM target: it is compiled together with Sources/Varlink/*.swift, so
// it needs no `import Varlink`:
//
//   swiftc -sanitize=fuzzer,address -parse-as-library -module-name VarlinkFuzz \
//       Sources/Varlink/*.swift Fuzz/VarlinkFuzzTarget.swift -o /tmp/varlink-fuzz
//   /tmp/varlink-fuzz -max_total_time=600 /tmp/corpus Fuzz/corpus
//
// AbuseTests.varlinkDecodersSurviveCoverageGuidedFuzzing builds and runs it for a bounded time; docs/reliability.md
// says how to run it longer. Besides crashes and memory errors (AddressSanitizer), it traps on any broken invariant:
// a frame containing a NUL, bytes lost or invented by the splitter, a frame over the limit returned, a decoded call
// that does not survive re-encoding.

/// The first input byte chooses the frame size limit and how the rest is cut into reads.
@_cdecl("LLVMFuzzerTestOneInput")
public func varlinkFuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    // Index 0 is the production limit; the small ones reach the oversize paths.
    let limits = [FrameSplitter.defaultMaxFrameSize, 1, 2, 16, 64, 255, 1024, 4096]
    let maxFrameSize = limits[Int(control & 0x07)]
    let readSize = [1, 2, 3, 7, 64, 4096, Int.max, 13][Int((control >> 3) & 0x07)]

    splitAndDecode(input, maxFrameSize: maxFrameSize, readSize: readSize)
    // Every input is also tried as one whole frame, as the daemon sees a frame once split.
    decodeFrame(input)
    return 0
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

/// Feeds `input` in reads of `readSize` bytes; checks the frames put back together give the input.
private func splitAndDecode(_ input: [UInt8], maxFrameSize: Int, readSize: Int) {
    var splitter = FrameSplitter(maxFrameSize: maxFrameSize)
    var reassembled: [UInt8] = []
    var offset = 0
    while offset < input.count {
        let end = input.count - offset > readSize ? offset + readSize : input.count
        splitter.append(input[offset..<end])
        offset = end
        while true {
            let frame: [UInt8]?
            do {
                frame = try splitter.nextFrame()
            } catch {
                check(error.limit == maxFrameSize, "FrameTooLarge names limit \(error.limit), not \(maxFrameSize)")
                // The connection is closed here; what was returned so far must still be a true prefix.
                check(Array(input.prefix(reassembled.count)) == reassembled, "frames returned differ from the input")
                check(tooLongFrameStarts(input, at: reassembled.count, maxFrameSize: maxFrameSize),
                      "FrameTooLarge thrown but no frame longer than \(maxFrameSize) starts at \(reassembled.count)")
                return
            }
            guard let frame else { break }
            check(!frame.contains(0), "a frame contains a NUL")
            check(frame.count <= maxFrameSize, "a frame of \(frame.count) bytes passed the limit \(maxFrameSize)")
            reassembled += frame
            reassembled.append(0)
            decodeFrame(frame)
        }
    }
    check(reassembled.count + splitter.bufferedByteCount == input.count, "bytes were lost or invented")
    check(Array(input.prefix(reassembled.count)) == reassembled, "frames returned differ from the input")
}

/// Whether the frame starting at `start` runs past `maxFrameSize` bytes before its NUL (or the input's end).
private func tooLongFrameStarts(_ input: [UInt8], at start: Int, maxFrameSize: Int) -> Bool {
    let rest = input[start...]
    let length = (rest.firstIndex(of: 0) ?? input.count) - start
    return length > maxFrameSize
}

/// Decodes a frame as a call and as a reply; whatever decodes must re-encode to an equal message.
private func decodeFrame(_ frame: [UInt8]) {
    if let call = try? VarlinkCall(frame: frame) {
        check(!(call.oneway && call.more), "a call with both oneway and more was accepted")
        var encoded = call.encoded()
        check(encoded.last == 0 && encoded.dropLast().allSatisfy { $0 != 0 }, "an encoded call is not one frame")
        encoded.removeLast()
        guard let again = try? VarlinkCall(frame: encoded) else { fatalError("a re-encoded call does not decode") }
        check(again.method == call.method && again.parameters == call.parameters && again.more == call.more
              && again.oneway == call.oneway && again.upgrade == call.upgrade, "a call changed through re-encoding")
    }
    if let reply = try? VarlinkReply(frame: frame) {
        var encoded = reply.encoded()
        encoded.removeLast()
        guard let again = try? VarlinkReply(frame: encoded) else { fatalError("a re-encoded reply does not decode") }
        check(again == reply, "a reply changed through re-encoding")
    }
    if let value = try? JSON.parse(frame, maxDepth: VarlinkCall.maxNestingDepth) {
        var text: [UInt8] = []
        JSON.serialize(value, into: &text)
        guard let again = try? JSON.parse(text, maxDepth: VarlinkCall.maxNestingDepth) else {
            fatalError("serialized JSON does not parse again")
        }
        check(again == value, "a JSON value changed through serialization")
        var textAgain: [UInt8] = []
        JSON.serialize(again, into: &textAgain)
        check(textAgain == text, "serialization is not stable")
    }
}
