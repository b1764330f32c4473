package ledger_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/ledger"
	"slokeeper/internal/sqlite"
)

type fixture struct {
	db  *sqlite.DB
	dir string
	l   *ledger.Ledger
}

func setup(t *testing.T, entries int, checkpointsAt ...int) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := slokeeper.ClockFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); at = at.Add(time.Second); return at })
	l, err := ledger.Open(ledger.Config{Store: sqlite.NewAuditStore(db), Dir: filepath.Join(dir, "audit"), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= entries; i++ {
		if _, err := l.Record(context.Background(), "operator:alice", "data.read", fmt.Sprintf("account:acct-%d", i), "理由: 問い合わせ対応"); err != nil {
			t.Fatal(err)
		}
		for _, c := range checkpointsAt {
			if c == i {
				if _, err := l.Checkpoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return &fixture{db: db, dir: filepath.Join(dir, "audit"), l: l}
}

// tamper runs SQL as an attacker with the database file would: the
// append-only triggers are no obstacle to them.
func (f *fixture) tamper(t *testing.T, stmts ...string) {
	t.Helper()
	for _, s := range append([]string{"DROP TRIGGER audit_entries_no_update", "DROP TRIGGER audit_entries_no_delete"}, stmts...) {
		if _, err := f.db.Writer().ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func (f *fixture) verify(t *testing.T) *ledger.Report {
	t.Helper()
	rep, err := f.l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyUntouched(t *testing.T) {
	f := setup(t, 20, 10, 20)
	rep := f.verify(t)
	if !rep.OK() || rep.Entries != 20 || rep.Checkpoints != 2 {
		t.Fatalf("untouched ledger: %+v", rep)
	}
	// Entries after the last checkpoint are fine too.
	f.l.Record(context.Background(), "system", "policy.load", "", "")
	if rep := f.verify(t); !rep.OK() || rep.Entries != 21 {
		t.Errorf("with an entry after the last checkpoint: %+v", rep)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, f *fixture)
		firstBad int64
		want     string
	}{
		{"Edit", func(t *testing.T, f *fixture) {
			f.tamper(t, `UPDATE audit_entries SET target = 'account:nobody' WHERE seq = 7`)
		}, 7, "entry 7 was modified"},
		{"Delete", func(t *testing.T, f *fixture) {
			f.tamper(t, `DELETE FROM audit_entries WHERE seq = 7`)
		}, 7, "entry 7 is missing"},
		{"Reorder", func(t *testing.T, f *fixture) {
			f.tamper(t, `UPDATE audit_entries SET seq = -5 WHERE seq = 5`, `UPDATE audit_entries SET seq = 5 WHERE seq = 6`, `UPDATE audit_entries SET seq = 6 WHERE seq = -5`)
		}, 5, "entry 5 was modified or moved"},
		{"Truncate", func(t *testing.T, f *fixture) {
			f.tamper(t, `DELETE FROM audit_entries WHERE seq > 15`)
		}, 16, "truncated: a signed checkpoint covers 20 entries, only 15 remain"},
		{"TruncateWithCheckpoints", func(t *testing.T, f *fixture) {
			f.tamper(t, `DELETE FROM audit_entries WHERE seq > 15`, `DELETE FROM audit_checkpoints WHERE size = 20`)
		}, 16, "truncated"},
		{"ForgedCheckpoint", func(t *testing.T, f *fixture) {
			// A checkpoint signed with another key, claiming the same size.
			other := setup(t, 20, 20)
			cps, _ := sqlite.NewAuditStore(other.db).FindAuditCheckpoints(context.Background())
			f.tamper(t, fmt.Sprintf(`UPDATE audit_checkpoints SET note = '%s' WHERE size = 20`, strings.ReplaceAll(cps[0].Note, "'", "''")))
		}, 20, "the checkpoint at size 20 does not verify"},
		{"RewriteWithHashes", func(t *testing.T, f *fixture) {
			// An attacker who edits entry 12 and recomputes every hash after
			// it is caught by the signed root.
			rewriteFrom(t, f, 12)
		}, 11, "an entry from 11 to 20 was rewritten"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, 20, 10, 20)
			tt.tamper(t, f)
			rep := f.verify(t)
			if rep.OK() {
				t.Fatal("verify passed a tampered ledger")
			}
			first := rep.Problems[0]
			if first.Seq != tt.firstBad || !strings.Contains(first.Message, tt.want) {
				t.Errorf("first problem = %+v, want entry %d: %q (all: %+v)", first, tt.firstBad, tt.want, rep.Problems)
			}
		})
	}
}

// rewriteFrom changes entry seq and recomputes its leaf and every chain
// hash from it on, as a careful attacker would.
func rewriteFrom(t *testing.T, f *fixture, seq int64) {
	t.Helper()
	store := sqlite.NewAuditStore(f.db)
	var entries []*slokeeper.AuditEntry
	store.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error { c := *e; entries = append(entries, &c); return nil })
	f.tamper(t)
	for i, e := range entries {
		if e.Seq < seq {
			continue
		}
		if e.Seq == seq {
			e.Target = "account:nobody"
		}
		e.LeafHash = ledger.LeafHashForTest(e)
		e.ChainHash = ledger.ChainHashForTest(entries[i-1].ChainHash, e.LeafHash)
		if _, err := f.db.Writer().ExecContext(context.Background(), `UPDATE audit_entries SET target = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?`, e.Target, e.LeafHash, e.ChainHash, e.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWitnessFile(t *testing.T) {
	f := setup(t, 5, 5)
	if _, err := os.Stat(filepath.Join(f.dir, "checkpoint.note")); err != nil {
		t.Fatalf("no witness file: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(f.dir, "audit.key"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("signing key mode %v, want 0600", fi.Mode().Perm())
	}
	// Checkpointing again with nothing new makes no new checkpoint.
	cp1, _ := f.l.Checkpoint(context.Background())
	cp2, _ := f.l.Checkpoint(context.Background())
	if cp1.Size != 5 || cp2.Note != cp1.Note {
		t.Errorf("repeated checkpoint: %d %q vs %q", cp1.Size, cp1.Note, cp2.Note)
	}
}

func TestRecordConcurrentAndRefused(t *testing.T) {
	f := setup(t, 0)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := f.l.Record(context.Background(), fmt.Sprintf("operator:%d", w), "login", "", fmt.Sprint(i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	f.l.Checkpoint(context.Background())
	if rep := f.verify(t); !rep.OK() || rep.Entries != 80 {
		t.Fatalf("after concurrent records: %+v", rep)
	}
	// When the ledger cannot be written, Record says so: the caller refuses.
	f.db.Close()
	if _, err := f.l.Record(context.Background(), "operator:x", "grant.approve", "", ""); slokeeper.ErrorCode(err) != slokeeper.EUNAVAILABLE {
		t.Errorf("Record on a closed store = %v, want EUNAVAILABLE", err)
	}
}
