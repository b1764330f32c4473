package lifecycle

import (
	"math/rand/v2"
	"slices"
)

// DrillSample picks n of the backup IDs at random, seeded: the same IDs
// and seed give the same sample, in the same order, whatever order the
// IDs come in, so a drill can be re-performed from the seed its evidence
// records. n at least len(ids) picks them all.
func DrillSample(ids []string, n int, seed uint64) []string {
	pool := slices.Clone(ids)
	slices.Sort(pool)
	pool = slices.Compact(pool)
	n = min(max(n, 0), len(pool))
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// A partial Fisher–Yates shuffle: the first n places.
	for i := range n {
		j := i + r.IntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	return pool[:n]
}
