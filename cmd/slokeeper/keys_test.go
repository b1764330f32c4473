package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"slokeeper"
	"slokeeper/internal/storetest"
	"slokeeper/internal/vault"
)

func TestKeysRotateConcurrentSQLite(t *testing.T) {
	testKeysRotateConcurrent(t, testConfig())
}

func TestKeysRotateConcurrentPostgres(t *testing.T) {
	cfg := testConfig()
	cfg.DB = storetest.PostgresDSN(t)
	cfg.KeysDB = storetest.PostgresDSN(t) // a database of its own, as several nodes share
	testKeysRotateConcurrent(t, cfg)
}

// testKeysRotateConcurrent runs "slokeeper keys rotate" as several real
// processes at once, round after round, while a server runs, and then
// decrypts every account item and verifies every account snapshot: no
// rotation may leave an account key wrapped under a master key that is
// gone.
func testKeysRotateConcurrent(t *testing.T, cfg Config) {
	const procs, rounds = 4, 5
	ctx := context.Background()
	cfg.Data = t.TempDir()
	m := MustRunMain(t, cfg)
	by := vault.Actor{Operator: &slokeeper.Operator{ID: "op_test", Name: "test", Role: slokeeper.RoleAdmin}, Label: "operator:test"}
	want := map[string]string{} // account/kind/key → value
	for i := range 3 {
		account := fmt.Sprintf("acct-%d", i)
		if _, err := m.Vault.CreateAccount(ctx, by, account, "Account "+account); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"data", "credential"} {
			value := fmt.Sprintf("%s %s value", account, kind)
			if _, err := m.Vault.PutItem(ctx, by, account, kind, "k", []byte(value)); err != nil {
				t.Fatal(err)
			}
			want[account+"/"+kind+"/k"] = value
		}
	}
	dbArgs := []string{"--data", cfg.Data}
	if cfg.DB != "" {
		dbArgs = append(dbArgs, "--db", cfg.DB, "--keys-db", cfg.KeysDB)
	}
	var snapshots []string
	for i := range 3 {
		out, stderr, code := cliRun(t, append([]string{"backup", "run", "--account", fmt.Sprintf("acct-%d", i)}, dbArgs...)...)
		match := regexp.MustCompile(`as (bk_\S+):`).FindStringSubmatch(out)
		if code != 0 || match == nil {
			t.Fatalf("backup run --account: exit %d\n%s%s", code, out, stderr)
		}
		snapshots = append(snapshots, match[1])
	}

	args := "SLOKEEPER_TEST_ARGS=keys rotate " + strings.Join(dbArgs, " ")
	for round := 1; round <= rounds; round++ {
		var wg sync.WaitGroup
		for p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "SLOKEEPER_TEST_RUN_MAIN=1", args)
				if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "master key rotated") {
					t.Errorf("round %d, process %d: keys rotate: %v\n%s", round, p, err, out)
				}
			}()
		}
		wg.Wait()
	}

	// A new process reads every item, and so does the server that ran
	// through the rotations (it reloads the master key when it meets a key
	// it does not know).
	km, closeKeys, err := openKeys(ctx, m.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer closeKeys()
	for name, keys := range map[string]interface {
		Decrypt(context.Context, string, []byte, []byte) ([]byte, error)
	}{"a new process": km, "the running server": m.Keys} {
		for i := range 3 {
			account := fmt.Sprintf("acct-%d", i)
			items, err := m.Store.Accounts.SnapshotAccountItems(ctx, account) // ciphertexts included
			if err != nil || len(items) != 2 {
				t.Fatalf("items of %s: %d, %v", account, len(items), err)
			}
			for _, it := range items {
				pt, err := keys.Decrypt(ctx, account, it.Ciphertext, it.AssociatedData())
				if err != nil || string(pt) != want[account+"/"+it.Kind+"/"+it.Key] {
					t.Errorf("%s: %s/%s/%s after the rotations = %q, %v", name, account, it.Kind, it.Key, pt, err)
				}
			}
		}
	}
	for _, id := range snapshots {
		if out, stderr, code := cliRun(t, append([]string{"backup", "verify", id}, dbArgs...)...); code != 0 || !strings.Contains(out, "2 items") {
			t.Errorf("backup verify %s after the rotations: exit %d %s%s", id, code, out, stderr)
		}
	}
	if entries, _ := os.ReadDir(cfg.Data); len(entries) > 0 {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") || strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("a temporary file was left in the data directory: %s", e.Name())
			}
		}
	}
}
