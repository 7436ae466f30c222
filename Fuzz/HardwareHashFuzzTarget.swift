// A libFuzzer target for the hardware hash decoder (HardwareHash, hardware-hash.md). It is not a SwiftPM target: it
// is compiled together with Sources/AutopilotDomain/*.swift, so it needs no `import AutopilotDomain`:
//
//   swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name HardwareHashFuzz \
//       Sources/AutopilotDomain/*.swift Fuzz/HardwareHashFuzzTarget.swift -o /tmp/hardware-hash-fuzz
//   /tmp/hardware-hash-fuzz -max_total_time=600 /tmp/hardware-hash-corpus Fuzz/hardware-hash-corpus
//
// AbuseTests.hardwareHashDecoderSurvivesCoverageGuidedFuzzing builds and runs it for a bounded time;
// docs/reliability.md says how to run it longer. Each input is decoded as bytes, as its base64 text and as text
// itself. Besides crashes and memory errors (AddressSanitizer: the decoder reads through unsafe pointers), it traps
// when an invariant breaks: decoding twice differs; a refusal of the wrong kind, or an acceptance, where the size
// rules or the `OA` magic decide; the records read differ from a plain, bounds-checked walk of the same bytes; a
// field holds text that is not in its record; the text of the bytes decodes to other bytes or another answer.

@_cdecl("LLVMFuzzerTestOneInput")
public func hardwareHashFuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))

    // The structure alone, at any size: the size rules would keep most mutations away from the record walk.
    let structure = input.withUnsafeBufferPointer { HardwareHash.decodeStructure($0) }
    let again = input.withUnsafeBufferPointer { HardwareHash.decodeStructure($0) }
    check(structure == again, "decoding the same bytes twice differs")
    checkAgainstPlainWalk(input, structure)

    // The size rules, then the same structure.
    let decoded = HardwareHash.decode(bytes: input)
    if input.count < DeviceRules.minHashBytes {
        check(decoded.kind == .tooShort, "\(input.count) bytes were not refused as too short")
    } else if input.count > DeviceRules.maxHashBytes {
        check(decoded.kind == .tooLong, "\(input.count) bytes were not refused as too long")
    } else {
        check(decoded == structure, "the size rules changed the structure's answer")
    }

    // The same bytes as base64 text, with and without padding: the same bytes and answer.
    let padded = Base64.encode(input)
    var unpadded = padded
    while unpadded.hasSuffix("=") { unpadded.removeLast() }
    for text in [padded, unpadded] {
        switch HardwareHash.decode(text: text) {
        case let .success(value):
            check(value.bytes == input, "the text of the bytes decoded to other bytes")
            check(decoded == .success(value.info), "the text of the bytes decoded to another answer")
        case let .failure(problem):
            check(problem.kind != .notBase64, "the base64 text of the bytes was not base64")
            check(decoded == .failure(problem), "the text of the bytes was refused otherwise")
        }
    }

    // The input as text, as a file would carry it.
    let text = String(decoding: input, as: UTF8.self)
    switch HardwareHash.decode(text: text) {
    case let .success(value):
        check(HardwareHash.decode(bytes: value.bytes) == .success(value.info), "decoded text disagrees with its bytes")
    case let .failure(problem):
        check(!problem.reason.isEmpty && problem.description == problem.reason, "a refusal without a reason")
    }
    return 0
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

extension Result where Failure == HardwareHashProblem {
    /// The kind of refusal, or nil.
    fileprivate var kind: HardwareHashProblem.Kind? {
        if case let .failure(problem) = self { return problem.kind }
        return nil
    }
}

/// Walks the records again with plain, bounds-checked array indexing, and checks the decoder's answer against it:
/// same refusal kind, same record types, and each field the text of the first record of its type.
private func checkAgainstPlainWalk(_ b: [UInt8], _ result: Result<HardwareHashInfo, HardwareHashProblem>) {
    guard b.count >= 2, b[0] == 0x4F, b[1] == 0x41 else {
        check(result.kind == .notAHardwareHash, "bytes without the OA magic were not refused for it")
        return
    }
    guard b.count >= 4 else {
        check(result.kind == .damaged, "a cut header was not refused as damaged")
        return
    }
    let end = Int(b[2]) + 256 * Int(b[3])
    var types: [UInt16] = []
    var firstData: [UInt16: ArraySlice<UInt8>] = [:]
    var offset = 4
    var whole = end >= 4 && end <= b.count
    while whole && offset < end {
        guard end - offset >= 4 else { whole = false; break }
        let type = UInt16(b[offset]) + 256 * UInt16(b[offset + 1])
        let length = Int(b[offset + 2]) + 256 * Int(b[offset + 3])
        guard length >= 4, offset + length <= end else { whole = false; break }
        types.append(type)
        if firstData[type] == nil { firstData[type] = b[(offset + 4)..<(offset + length)] }
        offset += length
    }
    guard whole else {
        check(result.kind == .damaged, "bytes whose records do not tile to T were not refused as damaged")
        return
    }
    // The checksum trailer: a "CS" record of 36 bytes right after T.
    let trailer = b.count - end >= 36 && b[end] == 0x43 && b[end + 1] == 0x53 && b[end + 2] == 36 && b[end + 3] == 0
    guard trailer else {
        check(result.kind == .damaged, "records without a checksum trailer were not refused as damaged")
        return
    }
    guard case let .success(info) = result else {
        fatalError("invariant broken: bytes whose records tile exactly to T, with a trailer, were refused: \(result)")
    }
    check(info.recordsEnd == end && info.checksum == Array(b[(end + 4)..<(end + 36)]),
          "the checksum is not the trailer's 32 bytes after T")
    check(info.recordTypes == types, "record types \(info.recordTypes) differ from a plain walk's \(types)")
    let fields: [(UInt16, String?)] = [
        (3, info.cpuVendor), (4, info.cpuModel), (13, info.tpm), (14, info.serialNumber), (15, info.firmwareVendor),
        (16, info.manufacturer), (17, info.model), (18, info.sku), (19, info.family), (20, info.baseboardManufacturer),
        (21, info.baseboardProduct), (22, info.baseboardVersion), (23, info.systemVersion), (24, info.productKeyID),
    ]
    for (type, value) in fields {
        guard let data = firstData[type] else {
            check(value == nil, "record \(type) is absent but its field holds \(String(describing: value))")
            continue
        }
        let text = data.prefix { $0 != 0 }
        check(value == String(decoding: text, as: UTF8.self), "record \(type)'s field is not its record's text")
        // Only the record's own bytes: valid UTF-8 comes back byte for byte. (Whether repairs were made cannot be
        // told from the value: U+FFFD followed by a combining mark is one Character that is not "\u{FFFD}".)
        if String(validating: text, as: UTF8.self) != nil {
            check(Array(value?.utf8 ?? "".utf8) == Array(text), "record \(type) read other bytes")
        }
    }
    if let data = firstData[1], data.count >= 8 {
        let word = { (i: Int) in String(Int(data[data.startIndex + i]) + 256 * Int(data[data.startIndex + i + 1])) }
        check(info.windowsVersion == [word(2), word(0), word(6), word(4)].joined(separator: "."),
              "the Windows version is not the first of record 1")
    } else {
        check(info.windowsVersion == nil, "a Windows version without a record 1 of 8 bytes or more")
    }
}
