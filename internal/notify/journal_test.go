package notify

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestReadJournal: an old handover journal's entries are read; a torn
// last line (a write a crash cut short) is left out; no file is none.
func TestReadJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "handover.journal")
	if ids, err := readJournal(path); err != nil || ids != nil {
		t.Errorf("no journal = %v, %v", ids, err)
	}
	if err := os.WriteFile(path, []byte("7\n1234567890123\n42\n99"), 0o600); err != nil {
		t.Fatal(err)
	}
	ids, err := readJournal(path)
	if err != nil || !slices.Equal(ids, []int64{7, 1234567890123, 42}) {
		t.Errorf("entries = %v, %v", ids, err)
	}
}
