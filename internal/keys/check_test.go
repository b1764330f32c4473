package keys_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"

	"slokeeper/internal/keys"
)

// TestCheckValues: one master key gives one check value, wherever it is
// opened; another key another; a rotation changes the primary's and
// keeps the old one among the keyset's. The value is not the key file's
// bytes nor any part of them.
func TestCheckValues(t *testing.T) {
	f, g := setup(t), setup(t)
	p1, all1, err := f.m.CheckValues()
	if err != nil || len(p1) != 32 || len(all1) != 1 {
		t.Fatalf("CheckValues = %x, %d values, %v", p1, len(all1), err)
	}
	again, err := keys.Open(f.master, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := again.CheckValues(); !bytes.Equal(p, p1) {
		t.Errorf("the same master key opened again checks %x, want %x", p, p1)
	}
	if p, _, _ := g.m.CheckValues(); bytes.Equal(p, p1) {
		t.Errorf("two master keys share the check value %x", p)
	}
	file, _ := os.ReadFile(f.master)
	if bytes.Contains(file, p1[:8]) {
		t.Errorf("the check value appears in the master key file")
	}
	if _, err := f.m.RotateMaster(context.Background()); err != nil {
		t.Fatal(err)
	}
	p2, all2, err := f.m.CheckValues()
	if err != nil || bytes.Equal(p2, p1) || len(all2) != 2 || !slices.ContainsFunc(all2, func(v []byte) bool { return bytes.Equal(v, p1) }) {
		t.Errorf("after rotation: primary %x (was %x), all %x, %v", p2, p1, all2, err)
	}
}
