package main

import (
	"bytes"
	"context"
	"os"
	"os/user"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/storetest"
)

// cliRunToken runs a command as the operator whose API token is in
// SLOKEEPER_TOKEN, as a shell with that variable set would.
func cliRunToken(t *testing.T, token string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if k == "SLOKEEPER_TOKEN" {
			return token
		}
		return ""
	}
	code := run(context.Background(), args, getenv, &out, &errb)
	return out.String(), errb.String(), code
}

// mustOperatorToken makes an operator who has set their own password (as
// after the first sign-in), and an API token of theirs with scope.
func mustOperatorToken(t *testing.T, dbArgs []string, name, role, scope string) string {
	t.Helper()
	cfg, err := newConfigFlagsFor(dbArgs)
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if ops, _ := store.Operators.FindOperators(context.Background(), slokeeper.OperatorFilter{Name: name}); len(ops) == 0 {
		op, err := newOperator(name, role, "a long test password", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		op.MustChangePassword = false
		if err := store.Operators.CreateOperator(context.Background(), op); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := cliRun(t, append([]string{"operator", "token", "create", "--operator", name, "--name", "cli", "--scope", scope}, dbArgs...)...)
	m := regexp.MustCompile(`token:\s+(sko_\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("token create for %s: exit %d %s%s", name, code, out, stderr)
	}
	return m[1]
}

// newConfigFlagsFor reads --data and --db from args as a command would.
func newConfigFlagsFor(args []string) (Config, error) {
	cfg := DefaultConfig()
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--data":
			cfg.Data = args[i+1]
		case "--db":
			cfg.DB = args[i+1]
		}
	}
	return cfg, nil
}

func TestCLIIdentitySQLite(t *testing.T) {
	testCLIIdentity(t, []string{"--data", t.TempDir()})
}

func TestCLIIdentityPostgres(t *testing.T) {
	testCLIIdentity(t, []string{"--data", t.TempDir(), "--db", storetest.PostgresDSN(t)})
}

// testCLIIdentity: commands that act as an operator prove who they are
// with the operator's own API token, under the HTTP API's rule; the
// two-person rule applies to that proven identity; --as is gone.
func testCLIIdentity(t *testing.T, dbArgs []string) {
	run := func(token string, args ...string) (string, string, int) {
		return cliRunToken(t, token, append(args, dbArgs...)...)
	}
	ops := mustOperatorToken(t, dbArgs, "ops", "operator", "write")
	alice := mustOperatorToken(t, dbArgs, "alice", "admin", "write")
	bob := mustOperatorToken(t, dbArgs, "bob", "admin", "write")
	samRead := mustOperatorToken(t, dbArgs, "sam", "support", "read")
	sam := mustOperatorToken(t, dbArgs, "sam", "support", "write")
	opsRead := mustOperatorToken(t, dbArgs, "ops", "operator", "read")

	t.Run("ErrAsFlag", func(t *testing.T) {
		if _, stderr, code := run(ops, "account", "create", "--as", "ops", "--id", "acct-x", "--name", "X"); code != 2 || !strings.Contains(stderr, "flag provided but not defined: -as") {
			t.Errorf("--as: exit %d %s", code, stderr)
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		if _, stderr, code := run("", "account", "create", "--id", "acct-x", "--name", "X"); code != 1 || !strings.Contains(stderr, "SLOKEEPER_TOKEN") {
			t.Errorf("without a token: exit %d %s", code, stderr)
		}
		if _, stderr, code := run("sko_not-a-token", "account", "create", "--id", "acct-x", "--name", "X"); code != 1 || !strings.Contains(stderr, "not valid, has expired or was revoked") {
			t.Errorf("an unknown token: exit %d %s", code, stderr)
		}
	})
	if _, stderr, code := run(ops, "account", "create", "--id", "acct-7", "--name", "Farm D"); code != 0 {
		t.Fatalf("account create: exit %d %s", code, stderr)
	}
	if _, stderr, code := run(ops, "account", "put", "acct-7", "--kind", "data", "--key", "threshold", "--value", "42"); code != 0 {
		t.Fatalf("account put: exit %d %s", code, stderr)
	}
	t.Run("ErrReadScope", func(t *testing.T) {
		if _, stderr, code := run(opsRead, "account", "put", "acct-7", "--kind", "data", "--key", "threshold", "--value", "0"); code != 1 || !strings.Contains(stderr, "may only read") {
			t.Errorf("a read-scoped token writing: exit %d %s", code, stderr)
		}
		if _, stderr, code := run(samRead, "grant", "request", "--account", "acct-7", "--scope", "data", "--reason", "sensor question", "--duration", "1h"); code != 1 || !strings.Contains(stderr, "may only read") {
			t.Errorf("a read-scoped token requesting a grant: exit %d %s", code, stderr)
		}
	})

	t.Run("TwoPerson", func(t *testing.T) {
		out, stderr, code := run(alice, "grant", "request", "--account", "acct-7", "--scope", "all", "--reason", "incident review", "--duration", "1h")
		if code != 0 {
			t.Fatalf("grant request: exit %d %s", code, stderr)
		}
		id := grantID(t, out)
		if _, stderr, code := run(alice, "grant", "approve", id); code != 1 || !strings.Contains(stderr, "cannot approve your own") {
			t.Errorf("the requester approving with their own token: exit %d %s", code, stderr)
		}
		if _, stderr, code := run(bob, "grant", "approve", id); code != 0 {
			t.Errorf("a second admin approving: exit %d %s", code, stderr)
		}
	})

	out, _, _ := run(sam, "grant", "request", "--account", "acct-7", "--scope", "data", "--reason", "sensor question", "--duration", "1h")
	id := grantID(t, out)
	if _, stderr, code := run(sam, "grant", "approve", id); code != 1 || !strings.Contains(stderr, "Only an admin") {
		t.Errorf("support approving: exit %d %s", code, stderr)
	}
	run(bob, "grant", "approve", id)
	// Reading is a read: a read-scoped token does it.
	if out, stderr, code := run(samRead, "account", "get", "acct-7", "--kind", "data", "--key", "threshold"); code != 0 || out != "42" {
		t.Errorf("get with a grant and a read token: exit %d %q %s", code, out, stderr)
	}

	t.Run("ErrRevokedExpiredDisabled", func(t *testing.T) {
		carol := mustOperatorToken(t, dbArgs, "carol", "admin", "write")
		if _, stderr, code := run(carol, "grant", "revoke", id); code != 0 {
			t.Fatalf("carol before: exit %d %s", code, stderr)
		}
		cliRun(t, append([]string{"operator", "disable", "carol"}, dbArgs...)...)
		if _, stderr, code := run(carol, "account", "delete", "acct-7"); code != 1 || !strings.Contains(stderr, "disabled") {
			t.Errorf("a disabled operator's token: exit %d %s", code, stderr)
		}

		dan := mustOperatorToken(t, dbArgs, "dan", "admin", "write")
		cfg, _ := newConfigFlagsFor(dbArgs)
		store, err := OpenStore(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		toks, _ := store.Operators.FindAPITokens(context.Background(), opID(t, store, "dan"))
		expired := "sko_expired-token-of-dan"
		now := time.Now()
		err = store.Operators.CreateAPIToken(context.Background(), &slokeeper.APIToken{ID: "tok_expired01", OperatorID: toks[0].OperatorID, Name: "old",
			Scope: "write", TokenHash: slokeeper.HashToken(expired), CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)})
		store.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := run(expired, "account", "delete", "acct-7"); code != 1 || !strings.Contains(stderr, "has expired") {
			t.Errorf("an expired token: exit %d %s", code, stderr)
		}
		cliRun(t, append([]string{"operator", "token", "revoke", toks[0].ID}, dbArgs...)...)
		if _, stderr, code := run(dan, "account", "delete", "acct-7"); code != 1 || !strings.Contains(stderr, "was revoked") {
			t.Errorf("a revoked token: exit %d %s", code, stderr)
		}
	})

	// The ledger names the proven operator and token, and a direct-store
	// command as local administration by this OS user on this host.
	if out, stderr, code := run("", "keys", "rotate"); code != 0 {
		t.Fatalf("keys rotate: exit %d %s%s", code, out, stderr)
	}
	out, _, _ = cliRun(t, append([]string{"audit", "show", "--limit", "0"}, dbArgs...)...)
	if !regexp.MustCompile(`operator:bob token:tok_\S+.*grant\.approve`).MatchString(out) {
		t.Errorf("the approval's entry does not name bob's token:\n%s", out)
	}
	u, _ := user.Current()
	host, _ := os.Hostname()
	if !regexp.MustCompile(regexp.QuoteMeta("local:"+u.Username+"@"+host) + `\s+keys\.rotate\s+master-key\s+direct-store command`).MatchString(out) {
		t.Errorf("keys rotate's entry does not say it was local administration:\n%s", out)
	}
}

func opID(t *testing.T, store *Store, name string) string {
	t.Helper()
	ops, err := store.Operators.FindOperators(context.Background(), slokeeper.OperatorFilter{Name: name})
	if err != nil || len(ops) != 1 {
		t.Fatalf("operator %s: %v", name, err)
	}
	return ops[0].ID
}

// TestDirectStoreHelp: every command that works on the store without an
// operator's token says so in its --help.
func TestDirectStoreHelp(t *testing.T) {
	for _, args := range [][]string{{"keys", "--help"}, {"backup", "run", "--help"}, {"lifecycle", "run", "--help"}, {"operator", "add", "--help"},
		{"source", "add", "--help"}, {"logs", "query", "--help"}, {"component", "apply", "f.yaml", "--help"}, {"maintenance", "cancel", "x", "--help"}} {
		out, stderr, _ := cliRun(t, args...)
		if !strings.Contains(out+stderr, "This is a direct-store command") {
			t.Errorf("%s: the help does not say it is a direct-store command:\n%s%s", strings.Join(args, " "), out, stderr)
		}
	}
	if out, stderr, _ := cliRun(t, "account", "create", "--help"); !strings.Contains(out+stderr, "SLOKEEPER_TOKEN") || strings.Contains(out+stderr, "--as") {
		t.Errorf("account --help:\n%s%s", out, stderr)
	}
}
