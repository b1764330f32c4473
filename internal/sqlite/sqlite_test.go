package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"slokeeper"
	"slokeeper/internal/sqlite"
	"slokeeper/internal/storetest"
)

// MustOpen opens a fresh database in a temporary directory.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "slokeeper.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, open)
}

// open opens a fresh store for the conformance suite and the benchmarks.
func open(tb testing.TB) storetest.Store {
	db := MustOpen(tb)
	return storetest.Store{
		Services: sqlite.NewServices(db),
		Exec: func(ctx context.Context, sql string) error {
			_, err := db.Writer().ExecContext(ctx, sql)
			return err
		},
		RefuseEvidence: func(ctx context.Context, on bool) error {
			q := `DROP TRIGGER refuse_evidence`
			if on {
				q = `CREATE TRIGGER refuse_evidence BEFORE INSERT ON evidence BEGIN SELECT RAISE(ABORT, 'evidence store unavailable'); END`
			}
			_, err := db.Writer().ExecContext(ctx, q)
			return err
		},
	}
}

func TestOpen(t *testing.T) {
	t.Run("ReopenKeepsData", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "slokeeper.db")
		ctx := context.Background()
		for range 2 {
			db, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Ready(ctx); err != nil {
				t.Errorf("Ready: %v", err)
			}
			db.Close()
		}
	})
	t.Run("ConcurrentOpenMigratesOnce", func(t *testing.T) {
		// Two processes starting on one file: simulated by two DBs at once.
		path := filepath.Join(t.TempDir(), "slokeeper.db")
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				db, err := sqlite.Open(context.Background(), path)
				if err == nil {
					db.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("concurrent Open: %v", err)
			}
		}
	})
	t.Run("ErrBadPath", func(t *testing.T) {
		if _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")); err == nil {
			t.Error("Open in a missing directory succeeded")
		}
	})
}

func TestKeyStore(t *testing.T) {
	s, err := sqlite.OpenKeyStore(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunKeyStore(t, s)
}

func TestKeyStoreBackupKeys(t *testing.T) {
	s, err := sqlite.OpenKeyStore(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunKeyStoreBackupKeys(t, s)
}

func TestKeyStoreRotationLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.db")
	var stores []slokeeper.KeyStore
	for range 2 { // two processes on one keys.db
		s, err := sqlite.OpenKeyStore(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	storetest.RunKeyStoreRotationLock(t, stores[0], stores[1])
}

func TestPassLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slokeeper.db")
	var locks []slokeeper.PassLock
	for range 2 { // two processes on one database
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		locks = append(locks, sqlite.NewPassLock(db))
	}
	storetest.RunPassLock(t, locks[0], locks[1])
}
