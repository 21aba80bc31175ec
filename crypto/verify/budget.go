package verify

// DefaultCryptoBudget is the crypto budget of one response when Options.CryptoBudget is
// 0, in keys.Cost units (one P-256 verification each). A one-document P-256 session
// spends 3 (chain, MSO, device); the dearest legitimate document, a P-521 IACA and DS
// with a brainpoolP512r1 device key, spends 36+36+140 = 212.
const DefaultCryptoBudget = 256

// budget is what one response may still spend on signature verifications and key
// agreements. A nil budget never runs out.
type budget struct {
	limit, spent int // limit < 0: no limit
	exhausted    bool
}

func newBudget(limit int) *budget {
	if limit == 0 {
		limit = DefaultCryptoBudget
	}
	return &budget{limit: limit}
}

// charge spends cost if the budget covers it; once it did not, nothing more is spent.
func (b *budget) charge(cost int) bool {
	if b == nil {
		return true
	}
	if b.exhausted || (b.limit >= 0 && b.spent+cost > b.limit) {
		b.exhausted = true
		return false
	}
	b.spent += cost
	return true
}
