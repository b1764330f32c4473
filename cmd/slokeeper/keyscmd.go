package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"slokeeper"
	"slokeeper/internal/keys"
	"slokeeper/internal/postgres"
	"slokeeper/internal/sqlite"
)

const keysUsage = `Usage:
  slokeeper keys rotate    make a new master key primary and rewrap every account key under it

Account data is encrypted under per-account keys, which are wrapped by the
master key (--master-key, default DATA/master.key). Rotation needs no
downtime: running servers pick up the new master key by themselves, and
data written under the old one stays readable. Rotations run one at a
time: another one, from any process or node on the same key store, waits
for the one under way (--master-key's lock file, then the key store's lock).
` + directStoreHelp

// openKeys opens the key manager: the master key file and the key store
// (DATA/keys.db, apart from the database backups copy).
func openKeys(ctx context.Context, cfg Config) (*keys.Manager, func() error, error) {
	var store interface {
		slokeeper.KeyStore
		Close() error
	}
	var err error
	switch {
	case cfg.KeysDB == "":
		store, err = sqlite.OpenKeyStore(ctx, filepath.Join(cfg.Data, "keys.db"))
	case strings.HasPrefix(cfg.KeysDB, "postgres://"), strings.HasPrefix(cfg.KeysDB, "postgresql://"):
		store, err = postgres.OpenKeyStore(ctx, cfg.KeysDB)
	default:
		return nil, nil, fmt.Errorf("--keys-db: give a postgres:// DSN of a database of its own, or leave it empty for DATA/keys.db")
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := keys.Open(masterKeyPath(cfg), store)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return m, store.Close, nil
}

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, keysUsage)
			return nil
		}
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage, "\nFlags:\n"); fs.PrintDefaults() }
	cf := newConfigFlags(fs, "data", "db", "master-key", "keys-db")
	cfg, store, err := openForCommand(ctx, fs, cf, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	audit, err := openLedger(cfg, store, slokeeper.SystemClock{})
	if err != nil {
		return err
	}
	if _, err := audit.Record(ctx, cliActor(), "keys.rotate", "master-key", localDetail("")); err != nil {
		return err
	}
	km, closeKeys, err := openKeys(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeKeys()
	// Rotate only the cluster's key, and record the new one's check value
	// once it is durable, even if rewrapping then fails.
	if err := checkMasterKey(ctx, store.Nodes, km, masterKeyPath(cfg)); err != nil {
		return err
	}
	old, _, err := km.CheckValues()
	if err != nil {
		return err
	}
	n, err := km.RotateMaster(ctx)
	if now, _, cerr := km.CheckValues(); cerr == nil && !bytes.Equal(now, old) {
		if _, _, serr := store.Nodes.SwapClusterValue(ctx, masterKeyCheck, old, now, nil); serr != nil && err == nil {
			err = fmt.Errorf("record the new master key's check value: %w", serr)
		}
	}
	if err != nil {
		audit.Record(ctx, cliActor(), "keys.rotate.failed", "master-key", localDetail(err.Error()))
		return err
	}
	fmt.Fprintf(stdout, "master key rotated; %d account keys rewrapped\n", n)
	return nil
}

// masterKeyCheck names the cluster value holding the master key's check
// value (keys.Manager.CheckValues).
const masterKeyCheck = "master_key_check"

// checkMasterKey makes sure this node's master key is the cluster's: the
// first node records its check value, every later one must match it. A
// node whose keyset holds the cluster's key as an older one (a rotation
// whose record was interrupted) moves the record forward. Any other
// master key is refused, before this node writes anything under it.
func checkMasterKey(ctx context.Context, nodes slokeeper.NodeService, km *keys.Manager, path string) error {
	primary, all, err := km.CheckValues()
	if err != nil {
		return err
	}
	cur, ok, err := nodes.SwapClusterValue(ctx, masterKeyCheck, nil, primary, nil)
	if err != nil || ok || bytes.Equal(cur, primary) {
		return err
	}
	if slices.ContainsFunc(all, func(v []byte) bool { return bytes.Equal(v, cur) }) {
		if _, _, err := nodes.SwapClusterValue(ctx, masterKeyCheck, cur, primary, nil); err != nil {
			return err
		}
		return checkMasterKey(ctx, nodes, km, path)
	}
	return slokeeper.Errorf(slokeeper.EINVALID, "this node's master key (%s) is not the cluster's: the database was set up with a different master key, "+
		"so this node could not read what the others encrypt. Copy the master key file from a node already serving (every node needs the same --master-key; "+
		"after \"keys rotate\", copy the rotated one), or point --db at this node's own database.\n"+
		"このノードのマスターキー(%s)はクラスターのものと異なります。データベースは別のマスターキーで設定されているため、このノードでは他のノードが暗号化したデータを読めません。"+
		"稼働中のノードからマスターキーファイルをコピーしてください(すべてのノードで同じ --master-key が必要です。keys rotate の後はローテーション後のファイルをコピーしてください)。"+
		"または、--db をこのノード専用のデータベースに向けてください。", path, path)
}

// masterKeyPath is where the configuration keeps the master key.
func masterKeyPath(cfg Config) string {
	if cfg.MasterKey != "" {
		return cfg.MasterKey
	}
	return filepath.Join(cfg.Data, "master.key")
}

// openClusterKeys is openKeys for a command on the cluster's store: it
// refuses a master key that is not the cluster's (checkMasterKey) before
// anything is wrapped under it.
//
// A refusal is tried again with the key file read anew, twice: a "keys
// rotate" in another process may have replaced the file and recorded the
// new key's check value between this process reading the file and
// checking it. A master key that is not the cluster's is refused all
// three times.
func openClusterKeys(ctx context.Context, cfg Config, store *Store) (*keys.Manager, func() error, error) {
	for try := 1; ; try++ {
		km, closeKeys, err := openKeys(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		err = checkMasterKey(ctx, store.Nodes, km, masterKeyPath(cfg))
		if err == nil {
			return km, closeKeys, nil
		}
		closeKeys()
		if try == 3 || slokeeper.ErrorCode(err) != slokeeper.EINVALID {
			return nil, nil, err
		}
	}
}
