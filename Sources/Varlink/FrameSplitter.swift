#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A frame grew past the size limit; the connection must be closed.
public struct FrameTooLarge: Error, Sendable, CustomStringConvertible {
    /// The limit in bytes, excluding the NUL terminator.
    public let limit: Int

    /// The error for a frame longer than `limit` bytes.
    public init(limit: Int) {
        self.limit = limit
    }

    /// The limit in words, for a log line.
    public var description: String { "varlink message longer than \(limit) bytes" }
}

/// Splits a byte stream into NUL-terminated varlink frames.
///
/// Bytes are appended as they arrive; ``nextFrame()`` returns complete frames without their NUL.
/// Each byte is scanned once, so feeding a frame byte by byte stays linear. A frame is refused as
/// soon as its buffered part exceeds `maxFrameSize`, without waiting for its terminator.
public struct FrameSplitter: Sendable {
    /// 16 MiB: the largest message the daemon accepts.
    public static let defaultMaxFrameSize = 16 * 1024 * 1024

    /// Consumed bytes are discarded once at least this many have accumulated at the front.
    @usableFromInline static let compactionThreshold = 4096

    /// Capacity kept after a fully consumed buffer; more is released.
    @usableFromInline static let retainedCapacity = 1 << 20

    /// The longest frame accepted, in bytes without the NUL; a longer one is refused.
    public let maxFrameSize: Int
    @usableFromInline var buffer: [UInt8] = []
    /// Start of the first frame not yet returned.
    @usableFromInline var frameStart = 0
    /// Bytes before this index (from `frameStart`) are known to contain no NUL.
    @usableFromInline var scanned = 0

    /// A splitter refusing frames longer than `maxFrameSize` bytes.
    public init(maxFrameSize: Int = defaultMaxFrameSize) {
        precondition(maxFrameSize > 0, "maxFrameSize must be positive")
        self.maxFrameSize = maxFrameSize
    }

    /// Adds received bytes.
    @inlinable
    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes from raw memory (a plain copy).
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// The next complete frame, without its NUL, or nil when more bytes are needed.
    ///
    /// - Throws: `FrameTooLarge` when a frame (complete or not) is longer than `maxFrameSize`;
    ///   the splitter is then unusable and the connection must be closed.
    public mutating func nextFrame() throws(FrameTooLarge) -> [UInt8]? {
        guard let frame = try nextFrameBounds() else { return nil }
        return Array(buffer[frame])
    }

    /// Where the next complete frame (without its NUL) lies in the buffer, or nil when more bytes are needed; the
    /// frame counts as returned. Read it with ``withBytes(in:_:)`` before the next ``append(_:)``, which may move
    /// it: the daemon parses a 4 MB upload where it was received instead of copying it first.
    ///
    /// - Throws: `FrameTooLarge`, as ``nextFrame()``.
    public mutating func nextFrameBounds() throws(FrameTooLarge) -> Range<Int>? {
        guard let terminator = Self.firstNUL(in: buffer, from: scanned) else {
            scanned = buffer.count
            if buffer.count - frameStart > maxFrameSize { throw FrameTooLarge(limit: maxFrameSize) }
            return nil
        }
        guard terminator - frameStart <= maxFrameSize else { throw FrameTooLarge(limit: maxFrameSize) }
        let frame = frameStart..<terminator
        frameStart = terminator + 1
        scanned = frameStart
        return frame
    }

    /// Calls `body` with the buffered bytes of `range` (from ``nextFrameBounds()``), valid only inside `body`.
    @inlinable
    public func withBytes<R, E: Error>(in range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E)
        -> R
    {
        precondition(range.lowerBound >= 0 && range.upperBound <= buffer.count, "range outside the buffered bytes")
        let result: Result<R, E> = buffer.withUnsafeBytes { all in
            Result { () throws(E) in try body(UnsafeRawBufferPointer(rebasing: all[range])) }
        }
        return try result.get()
    }

    /// Calls `body` with the buffered bytes of `range` (from ``nextFrameBounds()``) for it to consume: it may
    /// overwrite them or give their pages back to the system (`VarlinkCall(consumingFrame:)`), since a returned frame
    /// is never read again. Valid only inside `body`. Inlinable, so that the daemon's call of it is specialised: the
    /// generic version built `Result`'s metadata for every call (docs/performance.md).
    @inlinable
    public mutating func withConsumableBytes<R, E: Error>(
        in range: Range<Int>, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(range.lowerBound >= 0 && range.upperBound < frameStart, "range is not a returned frame")
        let result: Result<R, E> = buffer.withUnsafeMutableBytes { all in
            Result { () throws(E) in try body(UnsafeMutableRawBufferPointer(rebasing: all[range])) }
        }
        return try result.get()
    }

    /// The index of the first NUL at or after `start`. `memchr`: a 4 MB AddDevices call is scanned in a fraction of
    /// the time an element-by-element search takes (docs/performance.md).
    static func firstNUL(in bytes: [UInt8], from start: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            guard start < buffer.count, let base = buffer.baseAddress,
                  let hit = memchr(base + start, 0, buffer.count - start) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Gives back what returned frames took (all of a 4 MB one) now rather than at the next ``append(_:)``: the
    /// daemon calls it once a read's frames are decoded, so a large call's bytes are not held while it runs.
    public mutating func releaseConsumed() {
        compactIfWorthwhile()
    }

    /// Bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - frameStart }

    @inlinable
    mutating func compactIfWorthwhile() {
        if frameStart == buffer.count {
            if frameStart > 0 {
                // Keep a modest buffer for the next frames, but give back the memory of a huge one.
                buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacity)
                frameStart = 0
                scanned = 0
            }
        } else if frameStart >= Self.compactionThreshold, frameStart * 2 >= buffer.count {
            // Moving the partial frame costs at most what was consumed before it, so this stays linear.
            buffer.removeSubrange(..<frameStart)
            scanned -= frameStart
            frameStart = 0
        }
    }
}
