// Package backup makes, verifies and restores backups: of sealed log
// partitions, and of accounts' data as daily point-in-time snapshots. A
// backup is one object on the target, encrypted with a streaming AEAD
// under a key of its own, with SHA-256 checksums of the plaintext and of
// the object, and a manifest beside it saying what it covers. The key is
// kept in the key store, never on the target: a log backup's wrapped by
// the master key, an account backup's by the account's key, so destroying
// that key shreds the backup too. Erasing a backup destroys its key
// first, then deletes every version of its object and manifest the
// target allows: whatever copy the target keeps (versioning, object lock)
// is unreadable. Only a verified backup counts.
package backup

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
	"slokeeper/internal/logstore"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Sealer opens the keys of log backups made before backup keys were kept
// in the key store, wrapped by the master key in their manifest
// (keys.Manager).
type Sealer interface {
	SealSystem(plaintext, associatedData []byte) ([]byte, error)
	OpenSystem(ciphertext, associatedData []byte) ([]byte, error)
}

// Manifest says what a backup object covers and how to check it.
type Manifest struct {
	Version      int       `json:"version"`
	ID           string    `json:"id"`
	Class        string    `json:"class"`
	Account      string    `json:"account,omitempty"` // user data: whose snapshot
	Day          string    `json:"day"`
	Created      time.Time `json:"created"`
	Records      int64     `json:"records"`  // log records, or an account's items
	Checksum     string    `json:"checksum"` // SHA-256 of the plaintext: the partition (its catalog checksum) or the snapshot
	Object       string    `json:"object"`   // key on the target
	ObjectSize   int64     `json:"object_size"`
	ObjectSHA256 string    `json:"object_sha256"`
	Compression  string    `json:"compression,omitempty"` // of an account snapshot: zstd (log segments compress per block)
	KeepUntil    time.Time `json:"keep_until,omitzero"`   // the floor: restorable at least until then, as the policy counted at backup
	EraseBy      time.Time `json:"erase_by,omitzero"`     // the ceiling: erased then, as the policy counted at backup
	// KeyID names the backup's own key in the key store (version 2). The
	// manifest and the object never hold key material.
	KeyID string `json:"key_id,omitempty"`
	// WrappedKey is the streaming key of a version-1 backup, sealed by the
	// master key (user data: by the account's key), read for restores.
	WrappedKey string `json:"wrapped_key,omitempty"`
}

// KeyVault keeps each backup's own key in the key store (keys.Manager).
type KeyVault interface {
	StoreBackupKey(ctx context.Context, backup, account string, keyset []byte) error
	OpenBackupKey(ctx context.Context, backup, account string) ([]byte, error)
	DestroyBackupKey(ctx context.Context, backup string) error
}

// Key is where the manifest lies on the target.
func (m *Manifest) Key() string {
	if m.Account == "" {
		return "manifests/logs/" + m.Class + "/" + m.Day + "/" + m.ID + ".json"
	}
	return "manifests/user/" + m.Account + "/" + m.Day + "/" + m.ID + ".json"
}

// Config configures a Backups.
type Config struct {
	Target slokeeper.BlobStore
	Logs   *logstore.Store
	Sealer Sealer
	// Keys keeps the backups' own keys; default: Sealer, when it does
	// (keys.Manager does).
	Keys     KeyVault
	Accounts AccountData   // for user-data backups
	Crypto   AccountCrypto // for user-data backups
	// Expiry, if set, gives a new backup's expiry clocks for its manifest.
	Expiry func(*Manifest) (keep, erase time.Time)
	Clock  slokeeper.Clock // default: the system clock
}

// Backups makes, verifies and restores log partition backups.
type Backups struct {
	cfg Config
}

// New returns a Backups.
func New(cfg Config) *Backups {
	if cfg.Clock == nil {
		cfg.Clock = slokeeper.SystemClock{}
	}
	if kv, ok := cfg.Sealer.(KeyVault); ok && cfg.Keys == nil {
		cfg.Keys = kv
	}
	return &Backups{cfg: cfg}
}

func keyAD(id string) []byte    { return []byte("slokeeper backup key\x00" + id) }
func streamAD(id string) []byte { return []byte("slokeeper backup\x00" + id) }

// countingHash hashes and counts what passes through it.
type countingHash struct {
	h        hash.Hash
	n        int64
	progress func(done, total int64) // optional
	total    int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	if c.progress != nil {
		c.progress(c.n, c.total)
	}
	return len(p), nil
}

// BackupPartition copies a sealed partition to the target and writes its
// manifest. The object is written first, the manifest last: a backup
// without a manifest does not exist (and its object is garbage).
func (b *Backups) BackupPartition(ctx context.Context, class, day string) (*Manifest, error) {
	m := b.newManifest(class, "", day)
	err := b.write(ctx, m, func(w io.Writer) error {
		info, err := b.cfg.Logs.Export(ctx, class, day, w)
		if err == nil {
			m.Records, m.Checksum = info.Records, info.Checksum
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("back up %s/%s: %w", class, day, err)
	}
	return m, nil
}

func (b *Backups) newManifest(class, account, day string) *Manifest {
	id := "bk_" + auth.NewToken("")[:16]
	m := &Manifest{Version: 2, ID: id, KeyID: id, Class: class, Account: account, Day: day, Created: b.cfg.Clock.Now().UTC()}
	if account == "" {
		m.Object = "logs/" + class + "/" + day + "/" + id + ".seg.enc"
	} else {
		m.Object = "user/" + account + "/" + day + "/" + id + ".snap.enc"
	}
	return m
}

// write encrypts what produce writes under a new key of the backup's own,
// puts it on the target as m.Object and then writes the manifest. The
// key goes to the key store first, wrapped by the master key or for user
// data by the account's key; a backup that fails destroys it again.
func (b *Backups) write(ctx context.Context, m *Manifest, produce func(io.Writer) error) error {
	// Log partitions stream in 1 MiB segments; account snapshots are small,
	// and 4 KiB segments spare each of them two 1 MiB buffers.
	template := streamingaead.AES256GCMHKDF1MBKeyTemplate()
	if m.Account != "" {
		template = streamingaead.AES256GCMHKDF4KBKeyTemplate()
	}
	kh, err := keyset.NewHandle(template)
	if err != nil {
		return err
	}
	var clear bytes.Buffer
	if err := insecurecleartextkeyset.Write(kh, keyset.NewBinaryWriter(&clear)); err != nil {
		return err
	}
	if b.cfg.Keys == nil {
		return fmt.Errorf("backup %s: no key store for backup keys", m.ID)
	}
	err = b.cfg.Keys.StoreBackupKey(ctx, m.KeyID, m.Account, clear.Bytes())
	clear.Reset()
	if err != nil {
		return err
	}
	fail := func(err error) error {
		b.cleanUp(ctx, m.Object)
		b.cfg.Keys.DestroyBackupKey(context.WithoutCancel(ctx), m.KeyID)
		return err
	}
	sa, err := streamingaead.New(kh)
	if err != nil {
		return fail(err)
	}

	// produce → encrypt → hash the object → target.
	pr, pw := io.Pipe()
	objectHash := &countingHash{h: sha256.New()}
	done := make(chan error, 1)
	go func() {
		enc, err := sa.NewEncryptingWriter(io.MultiWriter(pw, objectHash), streamAD(m.ID))
		if err == nil {
			if err = produce(enc); err == nil {
				err = enc.Close()
			}
		}
		pw.CloseWithError(err)
		done <- err
	}()
	_, putErr := b.cfg.Target.Put(ctx, m.Object, pr)
	pr.CloseWithError(putErr)
	if err := cmp.Or(<-done, putErr); err != nil {
		return fail(err)
	}
	m.ObjectSize, m.ObjectSHA256 = objectHash.n, hex.EncodeToString(objectHash.h.Sum(nil))
	if b.cfg.Expiry != nil {
		m.KeepUntil, m.EraseBy = b.cfg.Expiry(m)
	}
	body, _ := json.MarshalIndent(m, "", "  ")
	if _, err := b.cfg.Target.Put(ctx, m.Key(), bytes.NewReader(body)); err != nil {
		return fail(fmt.Errorf("manifest: %w", err))
	}
	return nil
}

// cleanUp deletes the object of a backup that failed, even once ctx has
// ended, for a short while: a target that hangs does not hold the caller
// (a delete is one small request), and what is left is garbage, unlisted
// without its manifest.
func (b *Backups) cleanUp(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	b.cfg.Target.Delete(ctx, key)
}

func (b *Backups) unwrap(ctx context.Context, m *Manifest, wrapped []byte) ([]byte, error) {
	if m.Account == "" {
		return b.cfg.Sealer.OpenSystem(wrapped, keyAD(m.ID))
	}
	return b.cfg.Crypto.Decrypt(ctx, m.Account, wrapped, keyAD(m.ID))
}

// stream returns the backup's streaming AEAD: its key from the key store,
// or for a version-1 backup from its manifest.
func (b *Backups) stream(ctx context.Context, m *Manifest) (tink.StreamingAEAD, error) {
	var clear []byte
	if m.KeyID != "" {
		if b.cfg.Keys == nil {
			return nil, fmt.Errorf("backup %s: no key store for backup keys", m.ID)
		}
		var err error
		if clear, err = b.cfg.Keys.OpenBackupKey(ctx, m.KeyID, m.Account); err != nil {
			return nil, fmt.Errorf("backup %s: the key does not open: %w", m.ID, err)
		}
	} else {
		wrapped, err := base64.StdEncoding.DecodeString(m.WrappedKey)
		if err != nil || len(wrapped) == 0 {
			return nil, fmt.Errorf("backup %s: bad wrapped key", m.ID)
		}
		if clear, err = b.unwrap(ctx, m, wrapped); err != nil {
			return nil, fmt.Errorf("backup %s: the key does not open: %w", m.ID, err)
		}
	}
	kh, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(clear)))
	if err != nil {
		return nil, err
	}
	return streamingaead.New(kh)
}

// open reads a backup's object, checking its size and SHA-256 as it goes,
// and returns the decrypted partition stream. check reports whether the
// object matched, once the stream has been read to its end.
func (b *Backups) open(ctx context.Context, m *Manifest, progress func(done, total int64)) (io.Reader, func() error, io.Closer, error) {
	sa, err := b.stream(ctx, m)
	if err != nil {
		return nil, nil, nil, err
	}
	obj, err := b.cfg.Target.Get(ctx, m.Object)
	if err != nil {
		return nil, nil, nil, err
	}
	h := &countingHash{h: sha256.New(), progress: progress, total: m.ObjectSize}
	dec, err := sa.NewDecryptingReader(io.TeeReader(obj, h), streamAD(m.ID))
	if err != nil {
		obj.Close()
		return nil, nil, nil, err
	}
	check := func() error {
		io.Copy(io.Discard, io.TeeReader(obj, h)) // whatever decryption did not need
		if got := hex.EncodeToString(h.h.Sum(nil)); h.n != m.ObjectSize || got != m.ObjectSHA256 {
			return slokeeper.Errorf(slokeeper.EINVALID, "Backup %s: the object is %d bytes with SHA-256 %s; its manifest says %d and %s.", m.ID, h.n, got, m.ObjectSize, m.ObjectSHA256)
		}
		return nil
	}
	return dec, check, obj, nil
}

// Verify reads a backup back and checks everything: the object's size and
// SHA-256, that it decrypts, and the partition inside it (every block, the
// record count, its own SHA-256) against the manifest.
func (b *Backups) Verify(ctx context.Context, m *Manifest) error {
	if m.Account != "" {
		_, err := b.ReadSnapshot(ctx, m, nil)
		return err
	}
	dec, check, obj, err := b.open(ctx, m, nil)
	if err != nil {
		return err
	}
	defer obj.Close()
	info, err := logstore.VerifyBytes(dec) // the checksum below ties it to the sealed original
	if err != nil {
		return slokeeper.Errorf(slokeeper.EINVALID, "Backup %s does not verify: %v.", m.ID, err)
	}
	if err := check(); err != nil {
		return err
	}
	if info.Class != m.Class || info.Day != m.Day || info.Records != m.Records || info.Checksum != m.Checksum {
		return slokeeper.Errorf(slokeeper.EINVALID, "Backup %s holds %s/%s with %d records (%s); its manifest says %s/%s with %d (%s).",
			m.ID, info.Class, info.Day, info.Records, info.Checksum, m.Class, m.Day, m.Records, m.Checksum)
	}
	return nil
}

// Restore imports the backed-up partition into a log store (one without
// that partition). The import verifies it completely before it appears.
// progress, if not nil, is told the object bytes read so far and the total.
func (b *Backups) Restore(ctx context.Context, m *Manifest, into *logstore.Store, progress func(done, total int64)) (*slokeeper.LogPartition, error) {
	if m.Account != "" {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "Backup %s is of account %s's data, not of logs.", m.ID, m.Account)
	}
	dec, check, obj, err := b.open(ctx, m, progress)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	info, err := into.Import(ctx, dec)
	if err != nil {
		return nil, err
	}
	if err := check(); err != nil {
		into.Drop(ctx, info.Class, info.Day)
		return nil, err
	}
	return info, nil
}

// Manifests reads every manifest on the target: the catalog, rebuilt from
// the target alone.
func (b *Backups) Manifests(ctx context.Context) ([]*Manifest, error) {
	keys, err := b.ManifestKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Manifest, 0, len(keys))
	for _, key := range keys {
		m, err := b.ReadManifest(ctx, key)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y *Manifest) int {
		return strings.Compare(x.Key(), y.Key())
	})
	return out, nil
}

// ManifestKeys lists the manifests on the target without reading them:
// backup ID → manifest key.
func (b *Backups) ManifestKeys(ctx context.Context) (map[string]string, error) {
	objs, err := b.cfg.Target.List(ctx, "manifests/")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(objs))
	for _, o := range objs {
		if id, ok := strings.CutSuffix(path.Base(o.Key), ".json"); ok {
			out[id] = o.Key
		}
	}
	return out, nil
}

// ReadManifest reads one manifest.
func (b *Backups) ReadManifest(ctx context.Context, key string) (*Manifest, error) {
	r, err := b.cfg.Target.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&m); err != nil {
		if ctx.Err() != nil { // the read was cut, not the object bad
			return nil, fmt.Errorf("manifest %s: %w", key, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNotManifest, key, err)
	}
	if m.ID == "" || m.Object == "" || m.Class == "" || m.Day == "" {
		return nil, fmt.Errorf("%w: %s names no backup", ErrNotManifest, key)
	}
	return &m, nil
}

// ErrNotManifest is ReadManifest's error for an object under manifests/
// that is not a backup manifest.
var ErrNotManifest = errors.New("not a backup manifest")

// RemoveLeftovers removes from the target what backups that never
// finished (the process killed mid-Put) left there and last wrote before
// before, and returns it (slokeeper.BlobStore.RemoveLeftovers).
func (b *Backups) RemoveLeftovers(ctx context.Context, before time.Time) ([]slokeeper.BlobInfo, error) {
	return b.cfg.Target.RemoveLeftovers(ctx, before)
}

// Erasure says what erasing a backup did.
type Erasure struct {
	// KeyDestroyed: the backup's own key is gone from the key store, so no
	// copy of it left anywhere can be read. False for a version-1 backup,
	// whose key was in its manifest.
	KeyDestroyed bool
	Deleted      int       // copies deleted from the target: object and manifest, every version
	Kept         int       // versions the target keeps (object lock)
	LockedUntil  time.Time // the latest retain-until date of those, when known
}

// Detail says it for the evidence.
func (e Erasure) Detail() string {
	var s string
	if e.KeyDestroyed {
		s = fmt.Sprintf("key destroyed; %d versions deleted from the target", e.Deleted)
	} else {
		s = fmt.Sprintf("a backup from before backup keys (its key was in its manifest); %d versions deleted from the target", e.Deleted)
	}
	if e.Kept == 0 {
		return s
	}
	until := "a date it does not tell"
	if !e.LockedUntil.IsZero() {
		until = e.LockedUntil.UTC().Format(time.RFC3339)
	}
	if e.KeyDestroyed {
		return fmt.Sprintf("%s; the target keeps %d versions (object lock until %s): the copies left are unreadable", s, e.Kept, until)
	}
	// Nothing lists an erased backup again: what the lock kept stays once
	// the lock ends, and its key is in the manifest version locked beside it.
	return fmt.Sprintf("%s; the target keeps %d versions (object lock until %s), readable with the master key (a snapshot's: with the account's key) "+
		"and left on the target after the lock ends, unless the bucket's lifecycle rules remove them", s, e.Kept, until)
}

// Erase erases a backup: its key first, destroyed in the key store, then
// every version of its object and of its manifest the target allows
// deleting, the object before the manifest, so that a crash in between
// leaves a manifest naming a missing object (which the next erase
// finishes), never unlisted data. A key already destroyed (an erase that
// crashed after it) counts as destroyed.
func (b *Backups) Erase(ctx context.Context, m *Manifest) (Erasure, error) {
	var e Erasure
	if m.KeyID != "" {
		if b.cfg.Keys == nil {
			return e, fmt.Errorf("erase backup %s: no key store for backup keys", m.ID)
		}
		if err := b.cfg.Keys.DestroyBackupKey(ctx, m.KeyID); err != nil && slokeeper.ErrorCode(err) != slokeeper.ENOTFOUND {
			return e, fmt.Errorf("erase backup %s: destroy its key: %w", m.ID, err)
		}
		e.KeyDestroyed = true
	}
	for _, key := range []string{m.Object, m.Key()} {
		p, err := b.cfg.Target.Purge(ctx, key)
		e.Deleted, e.Kept = e.Deleted+p.Deleted, e.Kept+p.Kept
		if p.LockedUntil.After(e.LockedUntil) {
			e.LockedUntil = p.LockedUntil
		}
		if err != nil {
			return e, fmt.Errorf("erase backup %s: %w", m.ID, err)
		}
	}
	return e, nil
}
