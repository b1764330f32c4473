package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"slokeeper"
)

func testAuditStore(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	// Concurrent appends get gapless sequence numbers, each sealed with
	// the chain hash of the one before it.
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 10 {
				e := &slokeeper.AuditEntry{At: at, Actor: fmt.Sprintf("operator:%d", w), Action: "data.read", Target: "account:a", Detail: fmt.Sprint(i)}
				err := s.Audit.AppendAuditEntry(ctx, e, func(prev []byte) error {
					leaf := sha256.Sum256([]byte(fmt.Sprint(e.Seq)))
					e.LeafHash = leaf[:]
					ch := sha256.Sum256(append(append([]byte{}, prev...), e.LeafHash...))
					e.ChainHash = ch[:]
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var prev []byte
	var n int64
	err := s.Audit.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		n++
		ch := sha256.Sum256(append(append([]byte{}, prev...), e.LeafHash...))
		if e.Seq != n || !bytes.Equal(e.ChainHash, ch[:]) || !e.At.Equal(at.Truncate(time.Microsecond)) || e.Action != "data.read" {
			return fmt.Errorf("entry %d: %+v (chain broken or fields lost)", n, e)
		}
		prev = e.ChainHash
		return nil
	})
	if err != nil || n != 60 {
		t.Fatalf("entries: %d, %v", n, err)
	}
	var seqs []int64
	s.Audit.EachAuditEntry(ctx, 58, 59, func(e *slokeeper.AuditEntry) error { seqs = append(seqs, e.Seq); return nil })
	if fmt.Sprint(seqs) != "[58 59]" {
		t.Errorf("range 58..59 = %v", seqs)
	}
	if err := s.Audit.AppendAuditEntry(ctx, &slokeeper.AuditEntry{At: at, Action: "x"}, func([]byte) error { return nil }); slokeeper.ErrorCode(err) != slokeeper.EINVALID {
		t.Errorf("entry without actor = %v, want EINVALID", err)
	}

	cp := &slokeeper.AuditCheckpoint{Size: 60, Root: []byte{1, 2, 3}, Note: "signed\n", At: at}
	if err := s.Audit.AddAuditCheckpoint(ctx, cp); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit.AddAuditCheckpoint(ctx, cp); slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		t.Errorf("duplicate checkpoint = %v, want ECONFLICT", err)
	}
	s.Audit.AddAuditCheckpoint(ctx, &slokeeper.AuditCheckpoint{Size: 30, Root: []byte{4}, Note: "n\n", At: at})
	cps, err := s.Audit.FindAuditCheckpoints(ctx)
	if err != nil || len(cps) != 2 || cps[0].Size != 30 || cps[1].Size != 60 || !bytes.Equal(cps[1].Root, []byte{1, 2, 3}) || cps[1].Note != "signed\n" {
		t.Errorf("checkpoints = %+v, %v", cps, err)
	}
	for _, stmt := range []string{"UPDATE audit_entries SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_entries WHERE seq = 60"} {
		if err := s.Exec(ctx, stmt); err == nil {
			t.Errorf("%s succeeded; the ledger must be append-only", stmt)
		}
	}
}
