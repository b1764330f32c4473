package notify

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestJournal: entries survive reopening; a torn last line (a write a
// crash cut short) is left out; reset empties it.
func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "handover.journal")
	j, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{7, 1234567890123, 42} {
		if err := j.add(id); err != nil {
			t.Fatal(err)
		}
	}
	j.close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("99") // torn: no newline
	f.Close()
	if j, err = openJournal(path); err != nil {
		t.Fatal(err)
	}
	defer j.close()
	ids, err := j.entries()
	if err != nil || !slices.Equal(ids, []int64{7, 1234567890123, 42}) {
		t.Errorf("entries = %v, %v", ids, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := j.reset(); err != nil {
		t.Fatal(err)
	}
	j.add(5)
	if ids, _ := j.entries(); !slices.Equal(ids, []int64{5}) {
		t.Errorf("after reset: %v", ids)
	}
}
