import AutopilotDomain
import AutopilotStore
import Foundation
import Synchronization

/// Turns peer credentials into a `Caller`, using the access rules (cached; refreshed after every rule change)
/// and the peer's supplementary groups (from the group database, cached per uid for a minute).
final class IdentityResolver: Sendable {
    private let store: RegistryStore
    private let daemonUID: UInt32
    private let rules = Mutex<[AccessRule]?>(nil)
    private let groups = Mutex<[UInt32: (groups: [UInt32], at: UInt64)]>([:])

    init(store: RegistryStore, daemonUID: UInt32 = getuid()) {
        self.store = store
        self.daemonUID = daemonUID
    }

    func caller(uid: UInt32, gid: UInt32, pid: Int32) async throws -> Caller {
        if uid == 0 || uid == daemonUID {
            return Caller(uid: uid, gid: gid, pid: pid, role: .operator)
        }
        let current: [AccessRule]
        if let cached = rules.withLock({ $0 }) {
            current = cached
        } else {
            current = try await store.activeAccessRules()
            rules.withLock { $0 = current }
        }
        return Caller.resolve(uid: uid, gid: gid, groups: await supplementaryGroups(uid: uid, gid: gid), pid: pid,
                              daemonUID: daemonUID, rules: current)
    }

    /// Forgets the cached rules; the next call reads them again.
    func rulesChanged() { rules.withLock { $0 = nil } }

    /// The peer's groups, from the cache, else from the group database on a dispatch thread: calls run on their
    /// connection's event loop, and a lookup that goes to a directory service (sssd, LDAP) may take a while.
    private func supplementaryGroups(uid: UInt32, gid: UInt32) async -> [UInt32] {
        let now = DispatchTime.now().uptimeNanoseconds
        if let hit = groups.withLock({ $0[uid] }), now - hit.at < 60_000_000_000 { return hit.groups }
        let result = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Self.lookUpGroups(uid: uid, gid: gid)) }
        }
        groups.withLock { $0[uid] = (result, now) }
        return result
    }

    /// The groups of the user `uid` (primary group `gid`) in the group database; empty for an unknown user.
    private static func lookUpGroups(uid: UInt32, gid: UInt32) -> [UInt32] {
        var result: [UInt32] = []
        var pwd = passwd()
        var buffer = [CChar](repeating: 0, count: 4096)
        var found: UnsafeMutablePointer<passwd>?
        if getpwuid_r(uid, &pwd, &buffer, buffer.count, &found) == 0, let found {
            var count: Int32 = 64
            var list = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(found.pointee.pw_name, gid, &list, &count) == -1 {
                list = [gid_t](repeating: 0, count: Int(count))
                _ = getgrouplist(found.pointee.pw_name, gid, &list, &count)
            }
            result = Array(list.prefix(Int(max(count, 0))))
        }
        return result
    }
}
