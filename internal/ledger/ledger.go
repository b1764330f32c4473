// Package ledger is slokeeper's tamper-evident audit ledger: every
// sensitive action is appended as an entry that carries its RFC 6962 leaf
// hash and a hash chain, and the ledger's size and Merkle root are
// periodically signed (ed25519, as a golang.org/x/mod/sumdb/note) into
// checkpoints. Verify recomputes everything and names the first entry that
// was edited, deleted or reordered, a truncation, and a forged checkpoint.
package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"slokeeper"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// origin is the first line of every checkpoint note.
const origin = "slokeeper audit ledger"

// File names in the ledger's directory.
const (
	privateKeyFile = "audit.key"        // the signer, 0600
	publicKeyFile  = "audit.pub"        // the verifier key, for auditors
	witnessFile    = "checkpoint.note"  // the latest checkpoint, outside the database
	registeredFile = "audit.registered" // the verifier key this directory registered
)

// ActionRegisterKey is the action of the entry that registers a node's
// verifier key (its Detail) in the ledger: Verify trusts the checkpoints
// of every key so registered, on every node.
const ActionRegisterKey = "audit.key.register"

// Config configures a Ledger.
type Config struct {
	Store slokeeper.AuditStore // required
	// Dir holds the signing key and the latest checkpoint. Required.
	Dir string
	// Clock stamps entries and checkpoints. Default: the system clock.
	Clock slokeeper.Clock
	// KeyName names the signing key in checkpoints. Default: "slokeeper-audit".
	KeyName string
	// Node, when set, names this node: Open then registers the node's
	// verifier key in the ledger (once per Dir), so that every node's
	// Verify trusts the checkpoints this one signs. Without it only this
	// directory's own key is trusted besides keys registered by others.
	Node string
}

// Ledger appends to and checks the audit ledger.
type Ledger struct {
	cfg      Config
	signer   note.Signer
	verifier note.Verifier
}

// Open opens the ledger, creating its signing key (0600) on first use.
func Open(cfg Config) (*Ledger, error) {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if cfg.KeyName == "" {
		cfg.KeyName = "slokeeper-audit"
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit ledger: %w", err)
	}
	skey, err := os.ReadFile(filepath.Join(cfg.Dir, privateKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		skey, err = createKey(cfg.Dir, cfg.KeyName)
	}
	if err != nil {
		return nil, fmt.Errorf("audit ledger key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("audit ledger key %s: %w", filepath.Join(cfg.Dir, privateKeyFile), err)
	}
	vkey, err := os.ReadFile(filepath.Join(cfg.Dir, publicKeyFile))
	if err != nil {
		return nil, fmt.Errorf("audit ledger key: %w", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return nil, fmt.Errorf("audit ledger key %s: %w", filepath.Join(cfg.Dir, publicKeyFile), err)
	}
	l := &Ledger{cfg: cfg, signer: signer, verifier: verifier}
	if cfg.Node != "" {
		if err := l.register(context.Background(), strings.TrimSpace(string(vkey))); err != nil {
			return nil, fmt.Errorf("audit ledger: register this node's verifier key: %w", err)
		}
	}
	return l, nil
}

// register records this directory's verifier key in the ledger unless it
// is there already. The marker file remembers the key and the ledger it
// registered it in (the first entry's chain hash), so a ledger is scanned
// once, and a directory used with another database registers there too.
// Registering twice is harmless: the key is one key.
func (l *Ledger) register(ctx context.Context, vkey string) error {
	marker := filepath.Join(l.cfg.Dir, registeredFile)
	var first []byte
	errFirst := errors.New("first")
	if err := l.cfg.Store.EachAuditEntry(ctx, 1, 1, func(e *slokeeper.AuditEntry) error { first = e.ChainHash; return errFirst }); err != nil && !errors.Is(err, errFirst) {
		return err
	}
	want := vkey + "\n" + base64.StdEncoding.EncodeToString(first) + "\n"
	if b, err := os.ReadFile(marker); err == nil && string(b) == want && first != nil {
		return nil
	}
	found := false
	errFound := errors.New("found")
	err := l.cfg.Store.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == ActionRegisterKey && e.Detail == vkey {
			found = true
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return err
	}
	if !found {
		if _, err := l.Record(ctx, "system:"+l.cfg.Node, ActionRegisterKey, "node:"+l.cfg.Node, vkey); err != nil {
			return err
		}
	}
	if first == nil { // this registration is the ledger's first entry
		if err := l.cfg.Store.EachAuditEntry(ctx, 1, 1, func(e *slokeeper.AuditEntry) error { first = e.ChainHash; return nil }); err != nil {
			return err
		}
		want = vkey + "\n" + base64.StdEncoding.EncodeToString(first) + "\n"
	}
	return writeFileAtomic(marker, []byte(want), 0o644)
}

func createKey(dir, name string) ([]byte, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, publicKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, privateKeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(skey + "\n"); err != nil {
		return nil, err
	}
	return []byte(skey), f.Sync()
}

// VerifierKey returns the public key checkpoints verify with.
func (l *Ledger) VerifierKey() (string, error) {
	b, err := os.ReadFile(filepath.Join(l.cfg.Dir, publicKeyFile))
	return strings.TrimSpace(string(b)), err
}

// Canonical returns the bytes an entry's leaf hash covers: a version line
// and each field quoted on its own line, so no two entries encode alike.
func Canonical(e *slokeeper.AuditEntry) []byte {
	b := []byte("slokeeper-audit-v1\n")
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.Detail} {
		b = strconv.AppendQuote(b, f)
		b = append(b, '\n')
	}
	return b
}

func leafHash(e *slokeeper.AuditEntry) []byte { return rfc6962.DefaultHasher.HashLeaf(Canonical(e)) }

func chainHash(prev, leaf []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(leaf)
	return h.Sum(nil)
}

// ErrUnavailable is returned by Record when the entry could not be
// written: the sensitive action it guards must then be refused.
var ErrUnavailable = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The audit ledger cannot be written, so the action was refused.")

// Record appends an entry for a sensitive action. When it fails the
// caller must refuse the action: nothing sensitive happens unrecorded.
func (l *Ledger) Record(ctx context.Context, actor, action, target, detail string) (*slokeeper.AuditEntry, error) {
	e := &slokeeper.AuditEntry{At: l.cfg.Clock.Now(), Actor: actor, Action: action, Target: target, Detail: detail}
	err := l.cfg.Store.AppendAuditEntry(ctx, e, func(prev []byte) error {
		e.LeafHash = leafHash(e)
		e.ChainHash = chainHash(prev, e.LeafHash)
		return nil
	})
	if err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.EINVALID {
			return nil, err
		}
		return nil, fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	return e, nil
}

// root computes the Merkle root over the stored leaf hashes of the first
// size entries (all when size < 0), and returns the size it covered.
func (l *Ledger) root(ctx context.Context) (int64, []byte, error) {
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	var n int64
	err := l.cfg.Store.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		n++
		return r.Append(e.LeafHash, nil)
	})
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	root, err := r.GetRootHash(nil)
	return n, root, err
}

// Checkpoint signs the ledger's current size and root, stores the
// checkpoint and replaces the witness file with it. With nothing new since
// the last checkpoint it returns that one.
func (l *Ledger) Checkpoint(ctx context.Context) (*slokeeper.AuditCheckpoint, error) {
	size, root, err := l.root(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	cps, err := l.cfg.Store.FindAuditCheckpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	if n := len(cps); n > 0 && cps[n-1].Size == size {
		return cps[n-1], nil
	}
	at := l.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
	text := fmt.Sprintf("%s\n%d\n%s\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root), at.Format(time.RFC3339Nano))
	signed, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	cp := &slokeeper.AuditCheckpoint{Size: size, Root: root, Note: string(signed), At: at}
	if err := l.cfg.Store.AddAuditCheckpoint(ctx, cp); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(l.cfg.Dir, witnessFile), signed, 0o644); err != nil {
		return nil, fmt.Errorf("audit checkpoint witness: %w", err)
	}
	return cp, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// parseCheckpoint opens a signed checkpoint note and reads its size and root.
func parseCheckpoint(signed []byte, v note.Verifiers) (size int64, root []byte, err error) {
	n, err := note.Open(signed, v)
	if err != nil {
		return 0, nil, err
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != origin {
		return 0, nil, errors.New("not a slokeeper audit checkpoint")
	}
	if size, err = strconv.ParseInt(lines[1], 10, 64); err != nil {
		return 0, nil, errors.New("bad size")
	}
	if root, err = base64.StdEncoding.DecodeString(lines[2]); err != nil {
		return 0, nil, errors.New("bad root")
	}
	return size, root, nil
}
