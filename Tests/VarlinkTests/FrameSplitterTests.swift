import Testing
import Varlink

@Suite struct FrameSplitterTests {
    private func frames(from splitter: inout FrameSplitter) throws -> [[UInt8]] {
        var result: [[UInt8]] = []
        while let frame = try splitter.nextFrame() { result.append(frame) }
        return result
    }

    @Test func wholeFrameIsReturnedWithoutItsTerminator() throws {
        var splitter = FrameSplitter()
        splitter.append(Array("{\"a\":1}".utf8) + [0])
        #expect(try splitter.nextFrame() == Array("{\"a\":1}".utf8))
        #expect(try splitter.nextFrame() == nil)
        #expect(splitter.bufferedByteCount == 0)
    }

    @Test func framesReadInPlaceMatchTheCopiedOnesAndSurviveCompaction() throws {
        // Frames taken by bounds, read where they lie, then more bytes appended (which may move or drop the
        // consumed part): each frame reads as the copying nextFrame() would have returned it.
        var splitter = FrameSplitter()
        var seen: [[UInt8]] = []
        let frames = (0..<50).map { i in Array(String(repeating: "f\(i)", count: 40 * i + 1).utf8) }
        for frame in frames {
            splitter.append(frame + [0] + Array("par".utf8))
            splitter.append(Array("tial".utf8) + [0])
            while let bounds = try splitter.nextFrameBounds() {
                seen.append(splitter.withBytes(in: bounds) { Array($0) })
            }
        }
        #expect(seen.count == frames.count * 2)
        #expect(zip(seen.indices, seen).allSatisfy { index, bytes in
            bytes == (index % 2 == 0 ? frames[index / 2] : Array("partial".utf8))
        })
        #expect(splitter.bufferedByteCount == 0)
    }

    @Test func frameFedByteByByteAppearsOnlyAtItsTerminator() throws {
        var splitter = FrameSplitter()
        let message = Array("{\"method\":\"a.b.C\"}".utf8)
        for byte in message {
            splitter.append(CollectionOfOne(byte))
            #expect(try splitter.nextFrame() == nil)
        }
        #expect(splitter.bufferedByteCount == message.count)
        splitter.append([0])
        #expect(try splitter.nextFrame() == message)
    }

    @Test func severalFramesInOneChunkComeOutInOrder() throws {
        var splitter = FrameSplitter()
        splitter.append(Array("one\0two\0\0thr".utf8))
        #expect(try frames(from: &splitter) == [Array("one".utf8), Array("two".utf8), []])
        #expect(splitter.bufferedByteCount == 3)
        splitter.append(Array("ee\0".utf8))
        #expect(try frames(from: &splitter) == [Array("three".utf8)])
    }

    @Test func longFrameFedByteByByteIsScannedOnce() throws {
        // 300 kB fed one byte at a time with a lookup after each byte; rescanning the buffered part each
        // time would take tens of billions of steps.
        var splitter = FrameSplitter()
        let length = 300_000
        for _ in 0..<length {
            splitter.append(CollectionOfOne(UInt8(ascii: "x")))
            if try splitter.nextFrame() != nil { Issue.record("frame before its terminator") }
        }
        splitter.append(CollectionOfOne(0))
        #expect(try splitter.nextFrame()?.count == length)
        #expect(splitter.bufferedByteCount == 0)
    }

    @Test func manySmallFramesFedByteByByteAllArrive() throws {
        var splitter = FrameSplitter()
        let frame = Array("abcdefghij".utf8) + [0]
        var count = 0
        for _ in 0..<20_000 {
            for byte in frame {
                splitter.append(CollectionOfOne(byte))
                if try splitter.nextFrame() == Array(frame.dropLast()) { count += 1 }
            }
        }
        #expect(count == 20_000)
        #expect(splitter.bufferedByteCount == 0)
    }

    @Test func largeFrameFedInSmallChunksIsReassembled() throws {
        var splitter = FrameSplitter()
        let message = (0..<1_000_000).map { UInt8(1 + $0 % 200) }
        var start = 0
        while start < message.count {
            let end = min(start + 7, message.count)
            splitter.append(message[start..<end])
            #expect(try splitter.nextFrame() == nil)
            start = end
        }
        splitter.append([0])
        #expect(try splitter.nextFrame() == message)
    }

    @Test func frameExactlyAtTheLimitIsAccepted() throws {
        var splitter = FrameSplitter(maxFrameSize: 100)
        splitter.append([UInt8](repeating: 0x61, count: 100))
        #expect(try splitter.nextFrame() == nil)
        splitter.append([0])
        #expect(try splitter.nextFrame()?.count == 100)
    }

    @Test func frameOneOverTheLimitIsRejectedBeforeItsTerminator() {
        var splitter = FrameSplitter(maxFrameSize: 100)
        splitter.append([UInt8](repeating: 0x61, count: 100))
        #expect(throws: Never.self) { try splitter.nextFrame() }
        splitter.append([0x61])
        let error = #expect(throws: FrameTooLarge.self) { try splitter.nextFrame() }
        #expect(error?.limit == 100)
    }

    @Test func oversizeFrameArrivingWholeIsRejected() throws {
        var splitter = FrameSplitter(maxFrameSize: 10)
        splitter.append(Array("short\0".utf8) + [UInt8](repeating: 0x61, count: 11) + [0])
        #expect(try splitter.nextFrame() == Array("short".utf8))
        #expect(throws: FrameTooLarge.self) { try splitter.nextFrame() }
    }

    @Test func defaultLimitIsSixteenMebibytes() {
        #expect(FrameSplitter.defaultMaxFrameSize == 16 * 1024 * 1024)
    }
}

@Suite struct ConsumedFrameTests {
    /// A large call decoded in place and consumed (its pages given back as it is parsed) leaves the frames after it
    /// in the same buffer intact: the next complete one, and a partial one completed by a later read.
    @Test func consumingALargeFrameLeavesTheFollowingFramesIntact() throws {
        let large = ConsumingParseTests.largeMessage()
        let next = Array(#"{"method":"io.example.Next","parameters":{"n":1}}"#.utf8)
        let partial = Array(#"{"method":"io.example.Later","parameters":{"#.utf8)
        var splitter = FrameSplitter()
        splitter.append(large + [0] + next + [0] + partial)
        let first = try #require(try splitter.nextFrameBounds())
        let call = try splitter.withConsumableBytes(in: first) { bytes throws(VarlinkProtocolError) in
            try VarlinkCall(consumingFrame: bytes)
        }
        let copied = try VarlinkCall(frame: large)
        #expect(call.method == copied.method && call.parameters == copied.parameters)
        let second = try #require(try splitter.nextFrameBounds())
        #expect(splitter.withBytes(in: second) { Array($0) } == next)
        #expect(try splitter.nextFrameBounds() == nil)
        splitter.releaseConsumed()
        splitter.append(Array(#""m":2}}"#.utf8) + [0])
        let third = try #require(try splitter.nextFrame())
        let later = try VarlinkCall(frame: third)
        #expect(later.method == "io.example.Later" && later.parameters == ["m": 2])
    }
}
