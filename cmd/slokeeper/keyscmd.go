package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
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
	master := cfg.MasterKey
	if master == "" {
		master = filepath.Join(cfg.Data, "master.key")
	}
	m, err := keys.Open(master, store)
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
	n, err := km.RotateMaster(ctx)
	if err != nil {
		audit.Record(ctx, cliActor(), "keys.rotate.failed", "master-key", localDetail(err.Error()))
		return err
	}
	fmt.Fprintf(stdout, "master key rotated; %d account keys rewrapped\n", n)
	return nil
}
