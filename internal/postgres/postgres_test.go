package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"slokeeper"
	"slokeeper/internal/postgres"
	"slokeeper/internal/storetest"
)

// MustOpen opens a fresh schema on the test server.
func MustOpen(tb testing.TB) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), storetest.PostgresDSN(tb))
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
		Services: postgres.NewServices(db),
		Exec: func(ctx context.Context, sql string) error {
			_, err := db.Pool().Exec(ctx, sql)
			return err
		},
		RefuseEvidence: func(ctx context.Context, on bool) error {
			q := `DROP TRIGGER refuse_evidence ON evidence`
			if on {
				q = `CREATE OR REPLACE FUNCTION refuse_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
					BEGIN RAISE EXCEPTION 'evidence store unavailable'; END $$;
					CREATE TRIGGER refuse_evidence BEFORE INSERT ON evidence FOR EACH ROW EXECUTE FUNCTION refuse_evidence()`
			}
			_, err := db.Pool().Exec(ctx, q)
			return err
		},
	}
}

func TestOpen(t *testing.T) {
	t.Run("ConcurrentOpenMigratesOnce", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				db, err := postgres.Open(context.Background(), dsn)
				if err == nil {
					err = db.Ready(context.Background())
					db.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
			}
		}
	})
	t.Run("ErrMalformedDSNHidesPassword", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://u:s3cret@[bad/x")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error = %v, want an error that does not show the password", err)
		}
	})
	t.Run("ErrUnreachableHidesPassword", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=2")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error = %v, want an error that does not show the password", err)
		}
	})
}

func TestKeyStore(t *testing.T) {
	s, err := postgres.OpenKeyStore(context.Background(), storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunKeyStore(t, s)
}

func TestKeyStoreBackupKeys(t *testing.T) {
	s, err := postgres.OpenKeyStore(context.Background(), storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunKeyStoreBackupKeys(t, s)
}

func TestKeyStoreRotationLock(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var stores []slokeeper.KeyStore
	for range 2 { // two nodes on one key store
		s, err := postgres.OpenKeyStore(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	storetest.RunKeyStoreRotationLock(t, stores[0], stores[1])
}

func TestPassLock(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var locks []slokeeper.PassLock
	for range 2 { // two nodes on one database
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		locks = append(locks, postgres.NewPassLock(db))
	}
	storetest.RunPassLock(t, locks[0], locks[1])
}
