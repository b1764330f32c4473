// Package keys is slokeeper's envelope encryption, on Tink. Every account
// has its own data key (an AES-256-GCM keyset); account data is encrypted
// under it with the record's identity as associated data, so a ciphertext
// moved to another record or account does not decrypt. Account keysets are
// wrapped by a master keyset, kept in a file (0600), and stored in a key
// store apart from the data that backups copy: destroying an account's
// key makes every copy of its data, backups included, unreadable.
package keys

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"slokeeper"
	"slokeeper/internal/flock"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Manager encrypts and decrypts account data.
type Manager struct {
	store      slokeeper.KeyStore
	masterPath string

	mu     sync.RWMutex
	master *keyset.Handle
	aead   tink.AEAD            // the master key's AEAD
	cache  map[string]tink.AEAD // account → its data key's AEAD
	create sync.Mutex           // serializes creating account keys
}

// Open opens the master keyset at masterPath, creating it (0600) on first
// use, over the key store. Creation holds the master key's file lock, so
// two processes starting at once agree on one master key.
func Open(masterPath string, store slokeeper.KeyStore) (*Manager, error) {
	h, err := readMaster(masterPath)
	if errors.Is(err, os.ErrNotExist) {
		h, err = createMaster(masterPath)
	}
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", masterPath, err)
	}
	m := &Manager{store: store, masterPath: masterPath, cache: map[string]tink.AEAD{}}
	if err := m.setMaster(h); err != nil {
		return nil, err
	}
	return m, nil
}

// createMaster writes a first master keyset, unless another process wrote
// one meanwhile: then it reads that one.
func createMaster(path string) (*keyset.Handle, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	unlock, err := lockMaster(context.Background(), path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	h, err := readMaster(path)
	if !errors.Is(err, os.ErrNotExist) {
		return h, err
	}
	if h, err = keyset.NewHandle(aead.AES256GCMKeyTemplate()); err != nil {
		return nil, err
	}
	if err := writeMaster(path, h); err != nil {
		return nil, err
	}
	return readBackMaster(path, h)
}

// lockMaster takes an exclusive flock on the master key's lock file
// (master.key.lock, beside it), waiting until ctx ends. Every process that
// changes the master key file holds it; the kernel drops it when its
// holder dies.
func lockMaster(ctx context.Context, path string) (func(), error) {
	return flock.Wait(ctx, path+".lock")
}

// reloadMaster reads the master keyset file again.
func (m *Manager) reloadMaster() (tink.AEAD, error) {
	h, err := readMaster(m.masterPath)
	if err != nil {
		return nil, err
	}
	if err := m.setMaster(h); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.aead, nil
}

func (m *Manager) setMaster(h *keyset.Handle) error {
	a, err := aead.New(h)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	m.mu.Lock()
	m.master, m.aead = h, a
	m.mu.Unlock()
	return nil
}

func readMaster(path string) (*keyset.Handle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
}

// writeMaster writes the master keyset atomically, owner-only: into a
// temporary file of its own in the same directory (never a shared name),
// synced, renamed over the old one, and the directory synced.
func writeMaster(path string, h *keyset.Handle) error {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*") // 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone once renamed; removes it on any failure
	if _, err := f.Write(buf.Bytes()); err != nil {
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
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readBackMaster reads the master keyset file written from h again and
// checks that it is h: the same primary key, every one of h's keys, and a
// value sealed under h opens with it. Nothing is wrapped under a master
// key before this holds.
func readBackMaster(path string, h *keyset.Handle) (*keyset.Handle, error) {
	got, err := readMaster(path)
	if err != nil {
		return nil, fmt.Errorf("read the master key back: %w", err)
	}
	want, have := h.KeysetInfo(), got.KeysetInfo()
	if have.GetPrimaryKeyId() != want.GetPrimaryKeyId() {
		return nil, fmt.Errorf("read the master key back: its primary key is %d, not the new %d", have.GetPrimaryKeyId(), want.GetPrimaryKeyId())
	}
	ids := map[uint32]bool{}
	for _, k := range have.GetKeyInfo() {
		ids[k.GetKeyId()] = true
	}
	for _, k := range want.GetKeyInfo() {
		if !ids[k.GetKeyId()] {
			return nil, fmt.Errorf("read the master key back: key %d is missing", k.GetKeyId())
		}
	}
	wa, err := aead.New(h)
	if err != nil {
		return nil, err
	}
	ga, err := aead.New(got)
	if err != nil {
		return nil, fmt.Errorf("read the master key back: %w", err)
	}
	ad := []byte("slokeeper master key check")
	ct, err := wa.Encrypt([]byte("check"), ad)
	if err != nil {
		return nil, err
	}
	if pt, err := ga.Decrypt(ct, ad); err != nil || string(pt) != "check" {
		return nil, fmt.Errorf("read the master key back: it does not decrypt what the new key encrypted")
	}
	return got, nil
}

// accountAD binds a wrapped keyset to its account.
func accountAD(account string) []byte { return []byte("slokeeper account key\x00" + account) }

// accountAEAD returns the account's data key, creating it when create is
// set and the account has none.
func (m *Manager) accountAEAD(ctx context.Context, account string, create bool) (tink.AEAD, error) {
	m.mu.RLock()
	a, ok := m.cache[account]
	master := m.aead
	m.mu.RUnlock()
	if ok {
		return a, nil
	}
	wrapped, err := m.store.GetAccountKey(ctx, account)
	if slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND && create {
		m.create.Lock()
		defer m.create.Unlock()
		if wrapped, err = m.store.GetAccountKey(ctx, account); slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND {
			return m.newAccountKey(ctx, account, master)
		}
	}
	if err != nil {
		return nil, err
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), master, accountAD(account))
	if err != nil {
		// Another process (keys rotate) may have rewrapped it under a
		// master key this one has not loaded yet: reload and try again.
		if master, err = m.reloadMaster(); err == nil {
			h, err = keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), master, accountAD(account))
		}
		if err != nil {
			return nil, fmt.Errorf("unwrap the key of account %s: %w", account, err)
		}
	}
	if a, err = aead.New(h); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.cache[account] = a
	m.mu.Unlock()
	return a, nil
}

func (m *Manager) newAccountKey(ctx context.Context, account string, master tink.AEAD) (tink.AEAD, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), master, accountAD(account)); err != nil {
		return nil, err
	}
	if err := m.store.CreateAccountKey(ctx, account, buf.Bytes()); err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
			// Another process created it first: use theirs.
			return m.accountAEAD(ctx, account, false)
		}
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.cache[account] = a
	m.mu.Unlock()
	return a, nil
}

// Encrypt encrypts plaintext under the account's data key (created on first
// use), bound to associatedData: the identity of the record it belongs to.
func (m *Manager) Encrypt(ctx context.Context, account string, plaintext, associatedData []byte) ([]byte, error) {
	a, err := m.accountAEAD(ctx, account, true)
	if err != nil {
		return nil, err
	}
	return a.Encrypt(plaintext, associatedData)
}

// ErrShredded is returned when an account's key is gone: its data can never
// be read again.
var ErrShredded = slokeeper.Errorf(slokeeper.ENOTFOUND, "The account's key was destroyed: its data can no longer be read.")

// Decrypt decrypts a ciphertext of the account's, which must be bound to
// the same associated data it was encrypted with.
func (m *Manager) Decrypt(ctx context.Context, account string, ciphertext, associatedData []byte) ([]byte, error) {
	a, err := m.accountAEAD(ctx, account, false)
	if slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND {
		return nil, ErrShredded
	} else if err != nil {
		return nil, err
	}
	pt, err := a.Decrypt(ciphertext, associatedData)
	if err != nil {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The ciphertext does not belong to this record or account, or was altered.")
	}
	return pt, nil
}

// DestroyAccountKey destroys the account's data key: from now on no copy of
// the account's data, wherever it is, can be decrypted.
func (m *Manager) DestroyAccountKey(ctx context.Context, account string) error {
	m.mu.Lock()
	delete(m.cache, account)
	m.mu.Unlock()
	return m.store.DeleteAccountKey(ctx, account)
}

// AccountKeys lists the accounts that have a key.
func (m *Manager) AccountKeys(ctx context.Context) ([]string, error) { return m.store.AccountKeys(ctx) }

// RotateMaster makes a new master key primary and rewraps every account
// key under it. Reads and writes go on meanwhile: the master keyset keeps
// its old keys, so keysets wrapped by either decrypt, and account data is
// never re-encrypted, since the account keys themselves do not change.
//
// Rotations are serialized: by the master key file's lock (processes on
// this host) and then the key store's rotation lock (nodes sharing the
// store), always in that order. Under them the keyset is read from the
// file again, so a rotation builds on the one before it, never on a copy
// this process loaded earlier; and no account key is rewrapped before the
// new keyset is durable and read back.
func (m *Manager) RotateMaster(ctx context.Context) (rewrapped int, err error) {
	unlockFile, err := lockMaster(ctx, m.masterPath)
	if err != nil {
		return 0, err
	}
	defer unlockFile()
	unlockStore, err := m.store.LockRotation(ctx)
	if err != nil {
		return 0, err
	}
	defer unlockStore()

	current, err := readMaster(m.masterPath)
	if err != nil {
		return 0, fmt.Errorf("read the master key: %w", err)
	}
	km := keyset.NewManagerFromHandle(current)
	id, err := km.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return 0, err
	}
	if err := km.SetPrimary(id); err != nil {
		return 0, err
	}
	h, err := km.Handle()
	if err != nil {
		return 0, err
	}
	// The file first: should the process stop after it, the new master
	// still decrypts every keyset, rewrapped or not.
	if err := writeMaster(m.masterPath, h); err != nil {
		return 0, fmt.Errorf("write the new master key: %w", err)
	}
	if h, err = readBackMaster(m.masterPath, h); err != nil {
		return 0, err
	}
	if err := m.setMaster(h); err != nil {
		return 0, err
	}
	m.mu.RLock()
	master := m.aead
	m.mu.RUnlock()
	accounts, err := m.store.AccountKeys(ctx)
	if err != nil {
		return 0, err
	}
	for _, account := range accounts {
		wrapped, err := m.store.GetAccountKey(ctx, account)
		if slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND {
			continue // destroyed meanwhile
		} else if err != nil {
			return rewrapped, err
		}
		kh, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), master, accountAD(account))
		if err != nil {
			return rewrapped, fmt.Errorf("unwrap the key of account %s: %w", account, err)
		}
		var buf bytes.Buffer
		if err := kh.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), master, accountAD(account)); err != nil {
			return rewrapped, err
		}
		swapped, err := m.store.SwapAccountKey(ctx, account, wrapped, buf.Bytes())
		if err != nil {
			return rewrapped, err
		}
		if swapped { // else destroyed (or rewrapped) meanwhile: leave it
			rewrapped++
		}
	}
	return rewrapped, nil
}

// SealSystem encrypts one of slokeeper's own secrets (an operator's TOTP
// secret) directly under the master key, bound to associatedData. Master
// rotation keeps it readable: the master keyset keeps its old keys.
func (m *Manager) SealSystem(plaintext, associatedData []byte) ([]byte, error) {
	m.mu.RLock()
	a := m.aead
	m.mu.RUnlock()
	return a.Encrypt(plaintext, append([]byte("slokeeper system secret\x00"), associatedData...))
}

// OpenSystem decrypts what SealSystem sealed.
func (m *Manager) OpenSystem(ciphertext, associatedData []byte) ([]byte, error) {
	m.mu.RLock()
	a := m.aead
	m.mu.RUnlock()
	pt, err := a.Decrypt(ciphertext, append([]byte("slokeeper system secret\x00"), associatedData...))
	if err != nil {
		if a, rerr := m.reloadMaster(); rerr == nil {
			if pt, err = a.Decrypt(ciphertext, append([]byte("slokeeper system secret\x00"), associatedData...)); err == nil {
				return pt, nil
			}
		}
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "The sealed secret does not open: it belongs elsewhere or was altered.")
	}
	return pt, nil
}

// backupKeyAD binds a backup's wrapped key to the backup and its account.
func backupKeyAD(backup, account string) []byte {
	return []byte("slokeeper backup key\x00" + backup + "\x00" + account)
}

// ErrBackupKeyDestroyed is returned for a backup whose key is gone: it was
// erased, and no copy of it left anywhere can be read again.
var ErrBackupKeyDestroyed = slokeeper.Errorf(slokeeper.ENOTFOUND, "The backup's key was destroyed when it was erased: no copy of it can be read.")

// StoreBackupKey wraps a backup's own key (a serialized keyset) and keeps
// it in the key store, never beside the backup: a log backup's (account
// "") under the master key, an account snapshot's under the account's
// key. Destroying the backup's key (DestroyBackupKey) shreds that one
// backup; destroying the account's key shreds all its snapshots as well.
func (m *Manager) StoreBackupKey(ctx context.Context, backup, account string, clear []byte) error {
	var wrapped []byte
	var err error
	if account == "" {
		wrapped, err = m.SealSystem(clear, backupKeyAD(backup, ""))
	} else {
		wrapped, err = m.Encrypt(ctx, account, clear, backupKeyAD(backup, account))
	}
	if err != nil {
		return fmt.Errorf("wrap the key of backup %s: %w", backup, err)
	}
	return m.store.CreateBackupKey(ctx, backup, account, wrapped)
}

// OpenBackupKey returns a backup's own key: ErrBackupKeyDestroyed once the
// backup was erased, ErrShredded once its account's key was destroyed.
func (m *Manager) OpenBackupKey(ctx context.Context, backup, account string) ([]byte, error) {
	wrapped, err := m.store.GetBackupKey(ctx, backup)
	if slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND {
		return nil, ErrBackupKeyDestroyed
	} else if err != nil {
		return nil, err
	}
	if account == "" {
		return m.OpenSystem(wrapped, backupKeyAD(backup, ""))
	}
	return m.Decrypt(ctx, account, wrapped, backupKeyAD(backup, account))
}

// DestroyBackupKey destroys a backup's own key, durably and with no trace
// left in the key store's files; ENOTFOUND if it has none.
func (m *Manager) DestroyBackupKey(ctx context.Context, backup string) error {
	return m.store.DeleteBackupKey(ctx, backup)
}

// BackupKeys lists the backups that have a key.
func (m *Manager) BackupKeys(ctx context.Context) ([]string, error) { return m.store.BackupKeys(ctx) }

// checkLabel is what a master key's check value authenticates.
const checkLabel = "slokeeper cluster master key check v1"

// CheckValues returns the check value of the master keyset's primary key
// and of each of its keys (the primary's included): an HMAC-SHA256 of a
// fixed label under a key derived (HKDF-SHA256) from the key's material.
// It tells whether two nodes hold the same master key without revealing
// the key, and is no plain hash of it.
func (m *Manager) CheckValues() (primary []byte, all [][]byte, err error) {
	m.mu.RLock()
	h := m.master
	m.mu.RUnlock()
	ks := insecurecleartextkeyset.KeysetMaterial(h)
	for _, k := range ks.GetKey() {
		v, err := checkValue(k.GetKeyData().GetValue())
		if err != nil {
			return nil, nil, err
		}
		all = append(all, v)
		if k.GetKeyId() == ks.GetPrimaryKeyId() {
			primary = v
		}
	}
	if primary == nil {
		return nil, nil, errors.New("master key: the keyset has no primary key")
	}
	return primary, all, nil
}

func checkValue(material []byte) ([]byte, error) {
	if len(material) == 0 {
		return nil, errors.New("master key: a key has no material")
	}
	k, err := hkdf.Key(sha256.New, material, nil, checkLabel, 32)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(checkLabel))
	return mac.Sum(nil), nil
}
