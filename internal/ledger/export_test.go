package ledger

// Hash helpers for tests that play an attacker recomputing hashes.
var (
	LeafHashForTest  = leafHash
	ChainHashForTest = chainHash
)
