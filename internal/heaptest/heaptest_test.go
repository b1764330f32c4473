package heaptest_test

import (
	"testing"

	"slokeeper/internal/heaptest"
)

var sink []byte

// TestPeak: a 64 MiB allocation held while fn runs is seen.
func TestPeak(t *testing.T) {
	got := heaptest.Peak(func() { sink = make([]byte, 64<<20); sink[len(sink)-1] = 1 })
	sink = nil
	if got < 60<<20 || got > 200<<20 {
		t.Fatalf("peak = %d MiB, want about 64", got>>20)
	}
}
