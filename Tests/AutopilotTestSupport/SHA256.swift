import Crypto

/// The 32-byte SHA-256 digest of `bytes` (swift-crypto), as the trailer of a hardware hash holds it.
public func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
    Array(SHA256.hash(data: Array(bytes)))
}
