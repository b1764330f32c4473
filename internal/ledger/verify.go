package ledger

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"slokeeper"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Problem is one thing Verify found wrong.
type Problem struct {
	Seq     int64  `json:"seq"` // the first entry it concerns
	Message string `json:"message"`
}

// Report is what Verify found.
type Report struct {
	Entries     int64        `json:"entries"`
	Checkpoints int          `json:"checkpoints"` // valid signed checkpoints
	Keys        []TrustedKey `json:"keys"`        // the verifier keys checkpoints were checked against
	Problems    []Problem    `json:"problems"`
}

// TrustedKey is a verifier key Verify trusted.
type TrustedKey struct {
	Key  string `json:"key"`
	Node string `json:"node,omitempty"` // who registered it ("" for a key given to Verify)
	Seq  int64  `json:"seq,omitempty"`  // the entry that registered it
}

// OK reports whether the ledger verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the ledger against its own hashes and the signed
// checkpoints, and the latest checkpoint against the witness file kept
// outside the database. Checkpoints verify with this directory's key and
// every node's key registered in the ledger.
func (l *Ledger) Verify(ctx context.Context) (*Report, error) {
	key, err := l.VerifierKey()
	if err != nil {
		return nil, err
	}
	return Verify(ctx, l.cfg.Store, []string{key}, filepath.Join(l.cfg.Dir, witnessFile))
}

// Verify checks a ledger with verifier keys alone: what an auditor holding
// audit.pub can do. Besides the keys given, it trusts every key registered
// in the ledger (ActionRegisterKey) by an entry whose hash holds; a
// checkpoint signed by any other key is forged. witness may be "" when
// there is none.
func Verify(ctx context.Context, store slokeeper.AuditStore, keys []string, witness string) (*Report, error) {
	rep := &Report{}
	add := func(seq int64, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{seq, fmt.Sprintf(format, args...)})
	}
	v, err := trustedKeys(ctx, store, keys, rep, add)
	if err != nil {
		return nil, err
	}
	cps, err := store.FindAuditCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	signed := map[int64][]byte{} // size → root, from checkpoints whose signature holds
	var sizes []int64
	for _, cp := range cps {
		size, root, err := parseCheckpoint([]byte(cp.Note), v)
		if err != nil {
			add(cp.Size, "the checkpoint at size %d does not verify (%v): it is forged or altered", cp.Size, err)
			continue
		}
		if size != cp.Size || !bytes.Equal(root, cp.Root) {
			add(cp.Size, "the checkpoint at size %d was altered: its stored size or root differ from what its signature covers", cp.Size)
			continue
		}
		signed[size] = root
		sizes = append(sizes, size)
	}
	rep.Checkpoints = len(signed)
	if witness != "" {
		if b, err := os.ReadFile(witness); err == nil {
			size, root, err := parseCheckpoint(b, v)
			switch {
			case err != nil:
				add(0, "the witness checkpoint %s does not verify: %v", witness, err)
			case signed[size] == nil:
				add(size, "the latest checkpoint (size %d, kept in %s) is missing from the database: checkpoints were removed", size, witness)
				signed[size] = root
				sizes = append(sizes, size)
			case !bytes.Equal(signed[size], root):
				add(size, "the witness checkpoint at size %d disagrees with the database's", size)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	slices.Sort(sizes)

	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	var prevChain []byte
	expected, lastGood := int64(1), int64(0)
	err = store.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Seq > expected {
			if e.Seq == expected+1 {
				add(expected, "entry %d is missing: it was deleted", expected)
			} else {
				add(expected, "entries %d to %d are missing: they were deleted", expected, e.Seq-1)
			}
		} else if e.Seq < expected {
			add(e.Seq, "entry %d appears out of order", e.Seq)
		}
		leaf := leafHash(e)
		if !bytes.Equal(leaf, e.LeafHash) {
			add(e.Seq, "entry %d was modified or moved: its content no longer matches its hash", e.Seq)
		} else if !bytes.Equal(chainHash(prevChain, e.LeafHash), e.ChainHash) {
			add(e.Seq, "entry %d does not follow the entry before it in the hash chain: entries were removed or reordered", e.Seq)
		}
		prevChain = e.ChainHash
		if err := r.Append(leaf, nil); err != nil {
			return err
		}
		rep.Entries++
		expected = e.Seq + 1
		if want, ok := signed[rep.Entries]; ok {
			root, err := r.GetRootHash(nil)
			if err != nil {
				return err
			}
			if bytes.Equal(root, want) {
				lastGood = rep.Entries
			} else if !slices.ContainsFunc(rep.Problems, func(p Problem) bool { return p.Seq > lastGood && p.Seq <= rep.Entries }) {
				// Nothing entry by entry explains it: the hashes were
				// recomputed too, and only the signed root shows it.
				add(lastGood+1, "the first %d entries do not match the signed checkpoint of that size: an entry from %d to %d was rewritten, hashes and all", rep.Entries, lastGood+1, rep.Entries)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n := len(sizes); n > 0 && sizes[n-1] > rep.Entries {
		add(rep.Entries+1, "the ledger was truncated: a signed checkpoint covers %d entries, only %d remain", sizes[n-1], rep.Entries)
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	return rep, nil
}

// trustedKeys gathers the keys given and those registered in the ledger,
// one verifier per key (note.VerifierList refuses two alike).
func trustedKeys(ctx context.Context, store slokeeper.AuditStore, keys []string, rep *Report, add func(int64, string, ...any)) (note.Verifiers, error) {
	var vs []note.Verifier
	seen := map[string]bool{}
	trust := func(key, node string, seq int64) {
		if seen[key] {
			for i := range rep.Keys {
				if k := &rep.Keys[i]; k.Key == key && k.Node == "" {
					k.Node, k.Seq = node, seq // a key given that is registered too
				}
			}
			return
		}
		v, err := note.NewVerifier(key)
		if err != nil {
			add(seq, "entry %d registers a verifier key that is not one (%v)", seq, err)
			return
		}
		seen[key] = true
		vs = append(vs, v)
		rep.Keys = append(rep.Keys, TrustedKey{Key: key, Node: node, Seq: seq})
	}
	for _, k := range keys {
		trust(k, "", 0)
	}
	err := store.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		// An entry whose hash does not hold is reported by the main pass;
		// the key it names is not trusted.
		if e.Action == ActionRegisterKey && bytes.Equal(leafHash(e), e.LeafHash) {
			trust(e.Detail, strings.TrimPrefix(e.Target, "node:"), e.Seq)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return note.VerifierList(vs...), nil
}
