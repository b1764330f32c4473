package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runMainErr runs a Main and returns its start error (closing it when it
// started).
func runMainErr(t *testing.T, cfg Config) error {
	t.Helper()
	var logs bytes.Buffer
	m := NewMain(cfg, &logs)
	err := m.Run(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := m.Close(ctx); err == nil && cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	return err
}

func TestMasterKeyCheckSQLite(t *testing.T) {
	cfg := testConfig()
	cfg.DB = "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	testMasterKeyCheck(t, cfg)
}

func TestMasterKeyCheckPostgres(t *testing.T) { testMasterKeyCheck(t, withPostgres(t)) }

// testMasterKeyCheck: two nodes on one database. The second, with a
// master key of its own, refuses to start and says what to do; with the
// first's key it starts. After "keys rotate" on the first, the second's
// stale copy is refused again, the rotated one accepted.
func testMasterKeyCheck(t *testing.T, base Config) {
	a, b := base, base
	a.Data, a.Node = t.TempDir(), "node-a"
	b.Data, b.Node = t.TempDir(), "node-b"
	if err := runMainErr(t, a); err != nil {
		t.Fatalf("first node: %v", err)
	}
	err := runMainErr(t, b)
	if err == nil {
		t.Fatal("a node with another master key started")
	}
	for _, want := range []string{"master key", "is not the cluster's", "Copy the master key file", "マスターキー", "コピーしてください"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	copyFile(t, filepath.Join(a.Data, "master.key"), filepath.Join(b.Data, "master.key"))
	if err := runMainErr(t, b); err != nil {
		t.Fatalf("second node with the cluster's master key: %v", err)
	}

	dbArgs := []string{"--data", a.Data}
	if base.DB != "" {
		dbArgs = append(dbArgs, "--db", base.DB)
	}
	if out, stderr, code := cliRun(t, append([]string{"keys", "rotate"}, dbArgs...)...); code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, stderr)
	}
	if err := runMainErr(t, b); err == nil || !strings.Contains(err.Error(), "is not the cluster's") {
		t.Fatalf("second node with the master key from before the rotation: %v, want a refusal", err)
	}
	if err := runMainErr(t, a); err != nil {
		t.Fatalf("first node after its rotation: %v", err)
	}
	copyFile(t, filepath.Join(a.Data, "master.key"), filepath.Join(b.Data, "master.key"))
	if err := runMainErr(t, b); err != nil {
		t.Fatalf("second node with the rotated master key: %v", err)
	}
	// A rotation from a node whose key is not the cluster's is refused too.
	c := base
	c.Data = t.TempDir()
	cArgs := []string{"keys", "rotate", "--data", c.Data}
	if base.DB != "" {
		cArgs = append(cArgs, "--db", base.DB)
	}
	if _, stderr, code := cliRun(t, cArgs...); code == 0 || !strings.Contains(stderr, "is not the cluster's") {
		t.Fatalf("keys rotate with a foreign master key: exit %d, %s", code, stderr)
	}
}
