package lifecycle_test

import (
	"fmt"
	"slices"
	"testing"

	"slokeeper/lifecycle"
)

func TestDrillSample(t *testing.T) {
	var ids []string
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("bk_%02d", i))
	}
	reversed := slices.Clone(ids)
	slices.Reverse(reversed)
	t.Run("OK", func(t *testing.T) {
		a := lifecycle.DrillSample(ids, 3, 42)
		if len(a) != 3 {
			t.Fatalf("sample = %v, want 3 IDs", a)
		}
		if b := lifecycle.DrillSample(reversed, 3, 42); !slices.Equal(a, b) {
			t.Errorf("same seed, IDs in another order: %v, then %v; want the same sample", a, b)
		}
		if s := slices.Compact(slices.Sorted(slices.Values(a))); len(s) != 3 {
			t.Errorf("sample %v repeats an ID", a)
		}
		differ := false
		for seed := uint64(1); seed < 10 && !differ; seed++ {
			differ = !slices.Equal(a, lifecycle.DrillSample(ids, 3, 42+seed))
		}
		if !differ {
			t.Errorf("nine other seeds all picked %v: the seed is not used", a)
		}
	})
	t.Run("All", func(t *testing.T) {
		got := lifecycle.DrillSample(ids[:2], 5, 7)
		if len(got) != 2 {
			t.Errorf("sample of 5 from 2 = %v, want both", got)
		}
		if got := lifecycle.DrillSample(nil, 3, 7); len(got) != 0 {
			t.Errorf("sample from none = %v, want none", got)
		}
	})
	// Pinned: a change of algorithm would make recorded seeds re-perform
	// other samples; this must fail first.
	t.Run("Stable", func(t *testing.T) {
		got := fmt.Sprint(lifecycle.DrillSample(ids, 3, 1))
		t.Logf("seed 1: %s", got)
		if want := "[bk_10 bk_01 bk_14]"; got != want {
			t.Errorf("seed 1 picks %s, want %s as before", got, want)
		}
	})
}
