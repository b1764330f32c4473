package backup

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"slokeeper"

	"github.com/klauspost/compress/zstd"
)

// AccountData is where user-data backups read an account's items and
// restore them (slokeeper.AccountService).
type AccountData interface {
	FindAccounts(ctx context.Context, f slokeeper.AccountFilter) ([]*slokeeper.Account, error)
	SnapshotAccountItems(ctx context.Context, account string) ([]*slokeeper.AccountItem, error)
	ReplaceAccountItems(ctx context.Context, account string, items []*slokeeper.AccountItem) error
}

// AccountStore is where a restore into another data directory recreates
// accounts (slokeeper.AccountService).
type AccountStore interface {
	CreateAccount(ctx context.Context, a *slokeeper.Account) error
	ReplaceAccountItems(ctx context.Context, account string, items []*slokeeper.AccountItem) error
}

// AccountCrypto wraps the key of a user-data backup under the account's
// own key (keys.Manager), so that destroying the account's key shreds every
// copy of its data, backups included.
type AccountCrypto interface {
	Encrypt(ctx context.Context, account string, plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ctx context.Context, account string, ciphertext, associatedData []byte) ([]byte, error)
}

// The snapshot format, inside the encryption: zstd-compressed, a header
// line, then one JSON line per item, its ciphertext as stored (under the
// account's key). The manifest's checksum is of the uncompressed lines.
const snapshotFormat = "slokeeper-account-snapshot"

// maxSnapshot bounds a snapshot's compressed size when it is read back;
// decompressed, four times that.
const maxSnapshot = 1 << 30

type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// zstdCodec is one encoder and decoder for every snapshot: EncodeAll and
// DecodeAll are safe for concurrent use.
var zstdCodec = sync.OnceValue(func() codec {
	// SpeedBetterCompression entropy-codes the literals: the base64 of the
	// items' ciphertexts has no repeats to find, only its 6 bits a byte,
	// which the default level leaves as they are (a test pins this).
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4*maxSnapshot))
	return codec{enc, dec}
})

type snapshotHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Account string    `json:"account"`
	Name    string    `json:"name"`    // the account's, to recreate it elsewhere
	Created time.Time `json:"created"` // the account's creation
	Day     string    `json:"day"`
	Taken   time.Time `json:"taken"`
	Items   int       `json:"items"`
}

type snapshotItem struct {
	Kind       string    `json:"kind"`
	Key        string    `json:"key"`
	Size       int       `json:"size"`
	UpdatedAt  time.Time `json:"updated_at"`
	Ciphertext []byte    `json:"ciphertext"`
}

// BackupAccount takes a point-in-time snapshot of one account's data (one
// consistent read) and writes it to the target as the account's backup of
// day: the items' ciphertexts, encrypted again under a key wrapped by the
// account's key.
func (b *Backups) BackupAccount(ctx context.Context, account, day string) (*Manifest, error) {
	as, err := b.cfg.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{ID: account})
	if err != nil {
		return nil, fmt.Errorf("back up account %s: %w", account, err)
	}
	if len(as) == 0 {
		return nil, slokeeper.Errorf(slokeeper.ENOTFOUND, "No account %q.", account)
	}
	items, err := b.cfg.Accounts.SnapshotAccountItems(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("back up account %s: %w", account, err)
	}
	m := b.newManifest("user", account, day)
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Version: 1, Account: account, Name: as[0].Name, Created: as[0].CreatedAt,
		Day: day, Taken: m.Created, Items: len(items)}); err != nil {
		return nil, err
	}
	for _, it := range items {
		if err := enc.Encode(snapshotItem{Kind: it.Kind, Key: it.Key, Size: it.Size, UpdatedAt: it.UpdatedAt, Ciphertext: it.Ciphertext}); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(raw.Bytes())
	m.Records, m.Checksum, m.Compression = int64(len(items)), hex.EncodeToString(sum[:]), "zstd"
	err = b.write(ctx, m, func(w io.Writer) error {
		_, err := w.Write(zstdCodec().enc.EncodeAll(raw.Bytes(), nil))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("back up account %s for %s: %w", account, day, err)
	}
	return m, nil
}

// ReadSnapshot reads and checks a whole user-data backup: the object's
// size and SHA-256, that it decrypts, the header against the manifest,
// the count and the snapshot's SHA-256, and that every item decrypts
// under the account's key. It returns the items as stored.
func (b *Backups) ReadSnapshot(ctx context.Context, m *Manifest, progress func(done, total int64)) ([]*slokeeper.AccountItem, error) {
	_, items, err := b.readSnapshot(ctx, m, progress)
	return items, err
}

func (b *Backups) readSnapshot(ctx context.Context, m *Manifest, progress func(done, total int64)) (*snapshotHeader, []*slokeeper.AccountItem, error) {
	dec, check, obj, err := b.open(ctx, m, progress)
	if err != nil {
		return nil, nil, err
	}
	defer obj.Close()
	bad := func(format string, args ...any) error {
		return slokeeper.Errorf(slokeeper.EINVALID, "Backup %s does not verify: %s.", m.ID, fmt.Sprintf(format, args...))
	}
	compressed, err := io.ReadAll(io.LimitReader(dec, maxSnapshot))
	if err != nil {
		return nil, nil, bad("%v", err)
	}
	raw, err := zstdCodec().dec.DecodeAll(compressed, nil)
	if err != nil {
		return nil, nil, bad("decompress: %v", err)
	}
	sum := sha256.Sum256(raw)
	d := json.NewDecoder(bytes.NewReader(raw))
	var hd snapshotHeader
	if err := d.Decode(&hd); err != nil {
		return nil, nil, bad("header: %v", err)
	}
	if hd.Format != snapshotFormat || hd.Version != 1 || hd.Account != m.Account || hd.Day != m.Day {
		return nil, nil, bad("it holds %s v%d of %s/%s; its manifest says %s/%s", hd.Format, hd.Version, hd.Account, hd.Day, m.Account, m.Day)
	}
	items := make([]*slokeeper.AccountItem, 0, hd.Items)
	for {
		var si snapshotItem
		if err := d.Decode(&si); err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, bad("item %d: %v", len(items)+1, err)
		}
		it := &slokeeper.AccountItem{Account: m.Account, Kind: si.Kind, Key: si.Key, Size: si.Size, UpdatedAt: si.UpdatedAt, Ciphertext: si.Ciphertext}
		if _, err := b.cfg.Crypto.Decrypt(ctx, m.Account, it.Ciphertext, it.AssociatedData()); err != nil {
			return nil, nil, bad("item %s/%s does not decrypt: %v", it.Kind, it.Key, slokeeper.ErrorMessage(err))
		}
		items = append(items, it)
	}
	if err := check(); err != nil {
		return nil, nil, err
	}
	if got := hex.EncodeToString(sum[:]); int64(len(items)) != m.Records || hd.Items != len(items) || got != m.Checksum {
		return nil, nil, bad("it holds %d items (%s); its manifest says %d (%s)", len(items), got, m.Records, m.Checksum)
	}
	return &hd, items, nil
}

// RestoreAccount makes a user-data backup the account's whole data again,
// atomically, after checking all of it. It returns the items restored.
func (b *Backups) RestoreAccount(ctx context.Context, m *Manifest, progress func(done, total int64)) (int, error) {
	if m.Account == "" {
		return 0, slokeeper.Errorf(slokeeper.EINVALID, "Backup %s is of %s logs, not of an account.", m.ID, m.Class)
	}
	items, err := b.ReadSnapshot(ctx, m, progress)
	if err != nil {
		return 0, err
	}
	if err := b.cfg.Accounts.ReplaceAccountItems(ctx, m.Account, items); err != nil {
		return 0, err
	}
	return len(items), nil
}

// RestoreAccountTo recreates the account of a user-data backup in another
// data directory's store, with the backup's data, after checking all of
// it. The items stay encrypted under the account's key: that directory
// needs the same key store.
func (b *Backups) RestoreAccountTo(ctx context.Context, m *Manifest, to AccountStore) (int, error) {
	if m.Account == "" {
		return 0, slokeeper.Errorf(slokeeper.EINVALID, "Backup %s is of %s logs, not of an account.", m.ID, m.Class)
	}
	hd, items, err := b.readSnapshot(ctx, m, nil)
	if err != nil {
		return 0, err
	}
	a := &slokeeper.Account{ID: m.Account, Name: cmp.Or(hd.Name, m.Account), CreatedAt: cmp.Or(hd.Created, m.Created)}
	if err := to.CreateAccount(ctx, a); err != nil && slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		return 0, err
	}
	if err := to.ReplaceAccountItems(ctx, m.Account, items); err != nil {
		return 0, err
	}
	return len(items), nil
}
