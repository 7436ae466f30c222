import AutopilotDomain
import AutopilotInterface
import Testing
@testable import AutopilotService

/// The memo of consent-check replies: it may save writing a reply, never change what is written.
@Suite struct ReplyTextMemoTests {
    static let pair = ConsentPair(partner: "contoso-csp", tenant: "fabrikam")

    static func grant(delegatedAdmin: Bool = true) -> Grant {
        Grant(id: "0193a5f0-7c1e-7d2a-9b3c-4d5e6f708192", tenant: "fabrikam", partner: "contoso-csp", basis: .direct,
              via: nil, link: "0193a5f0-6b0d-7c19-8a2b-3c4d5e6f7081", delegatedAdmin: delegatedAdmin,
              roles: delegatedAdmin ? [.globalReader] : [], grantedBy: "admin@fabrikam.onmicrosoft.com",
              grantedAt: Timestamp(millisecondsSinceEpoch: 1_764_892_800_123), status: .active, endedAt: nil,
              dapExpiresAt: Timestamp(millisecondsSinceEpoch: 1_772_668_800_000))
    }

    @Test func theTextIsAlwaysTheTextOfTheReplyGiven() {
        let memo = ReplyTextMemo<ConsentPair, SubmissionCheck>(capacity: 8)
        let consented = SubmissionCheck(consented: true, grant: Self.grant(), results: [])
        // The same answer twice, then each differing from the one before in a member the reply shows.
        let answers = [
            consented, consented,
            SubmissionCheck(consented: true, grant: Self.grant(delegatedAdmin: false), results: []),
            SubmissionCheck(consented: false, grant: nil, results: []),
            consented,
        ]
        for (turn, answer) in answers.enumerated() {
            #expect(memo.text(of: answer, for: Self.pair) == answer.wireText, "turn \(turn)")
        }
        // Another pair's text is its own, whatever the first pair's is.
        let other = ConsentPair(partner: "contoso-csp", tenant: "northwind")
        let refused = SubmissionCheck(consented: false, grant: nil, results: [])
        #expect(memo.text(of: refused, for: other) == refused.wireText)
        #expect(memo.text(of: consented, for: Self.pair) == consented.wireText)
        #expect(memo.count == 2)
    }

    @Test func itHoldsNoMoreThanItsCapacity() {
        let memo = ReplyTextMemo<ConsentPair, SubmissionCheck>(capacity: 4)
        let answer = SubmissionCheck(consented: false, grant: nil, results: [])
        for tenant in 0..<10 {
            _ = memo.text(of: answer, for: ConsentPair(partner: "contoso-csp", tenant: "tenant-\(tenant)"))
            #expect(memo.count <= 4, "after \(tenant + 1) pairs")
        }
        // A pair already kept is replaced in place, not counted again.
        let full = ReplyTextMemo<ConsentPair, SubmissionCheck>(capacity: 1)
        _ = full.text(of: answer, for: Self.pair)
        _ = full.text(of: SubmissionCheck(consented: true, grant: Self.grant(), results: []), for: Self.pair)
        #expect(full.count == 1)
    }
}
