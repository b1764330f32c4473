package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPostgresURL is the server tests use when SLOKEEPER_TEST_POSTGRES_URL
// is not set: the local server, in a database of slokeeper's own.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/slokeeper_test?sslmode=disable"

// PostgresDSN returns a connection string to a fresh, empty schema on the
// test PostgreSQL server (SLOKEEPER_TEST_POSTGRES_URL, or
// DefaultPostgresURL), dropped when the test ends. When no server is
// reachable the test is skipped, except under CI=true, where it fails: CI
// must prove both engines.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("SLOKEEPER_TEST_POSTGRES_URL")
	if url == "" {
		url = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connectCreating(ctx, url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required under CI=true but unreachable: %v", err)
		}
		tb.Skipf("PostgreSQL unreachable (set SLOKEEPER_TEST_POSTGRES_URL): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// connectCreating connects to url, creating its database first when the
// server is there but the database is not.
func connectCreating(ctx context.Context, url string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, url)
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != "3D000" { // invalid_catalog_name
		return conn, err
	}
	cfg, perr := pgx.ParseConfig(url)
	if perr != nil {
		return nil, err
	}
	name := cfg.Database
	cfg.Database = "postgres"
	admin, aerr := pgx.ConnectConfig(ctx, cfg)
	if aerr != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	if _, cerr := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); cerr != nil {
		// A parallel test won: duplicate_database, or, when both got past
		// the check at once, unique_violation on the catalog.
		if !errors.As(cerr, &pe) || pe.Code != "42P04" && pe.Code != "23505" {
			return nil, cerr
		}
	}
	return pgx.Connect(ctx, url)
}
