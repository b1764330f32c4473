package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// mustAccount makes sure the store in data (and db, when not empty) holds
// an active account id, as "account create" would leave it, for tests
// about what an account's sources send. Calling it again is harmless.
func mustAccount(tb testing.TB, data, db, id string) {
	tb.Helper()
	store, err := OpenStore(context.Background(), Config{Data: data, DB: db})
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	a := &slokeeper.Account{ID: id, Name: "Account " + id, Status: slokeeper.AccountActive, CreatedAt: time.Now()}
	if err := store.Accounts.CreateAccount(context.Background(), a); err != nil && slokeeper.ErrorCode(err) != slokeeper.ECONFLICT {
		tb.Fatal(err)
	}
}

// TestSourceAddNeedsAccount: a source for an account that does not exist,
// or is being deleted, is refused with a message in both languages and
// nothing is stored; an app source names no account; a source for an
// existing account is added.
func TestSourceAddNeedsAccount(t *testing.T) {
	data := t.TempDir()
	_, stderr, code := cliRun(t, "source", "add", "--data", data, "--kind", "agent", "--account", "acct-typo", "--name", "gw")
	if code != 1 || !strings.Contains(stderr, `There is no account "acct-typo"`) || !strings.Contains(stderr, "アカウント「acct-typo」はありません。") {
		t.Errorf("source add for a missing account: exit %d, stderr %s", code, stderr)
	}
	if _, stderr, code := cliRun(t, "source", "add", "--data", data, "--kind", "app", "--account", "acct-typo", "--name", "api"); code != 1 || !strings.Contains(stderr, "--account を外してください") {
		t.Errorf("an app source with an account: exit %d, stderr %s", code, stderr)
	}
	if out, _, _ := cliRun(t, "source", "list", "--data", data, "--all"); strings.Contains(out, "src_") {
		t.Errorf("a refused source was stored:\n%s", out)
	}

	mustAccount(t, data, "", "acct-1")
	if out, stderr, code := cliRun(t, "source", "add", "--data", data, "--kind", "agent", "--account", "acct-1", "--name", "gw"); code != 0 || !strings.Contains(out, "token:") {
		t.Errorf("source add for an existing account: exit %d %s %s", code, out, stderr)
	}

	store, err := OpenStore(context.Background(), Config{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	deleting := slokeeper.AccountDeleting
	err = store.Accounts.UpdateAccount(context.Background(), "acct-1", slokeeper.AccountUpdate{Status: &deleting})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cliRun(t, "source", "add", "--data", data, "--kind", "agent", "--account", "acct-1", "--name", "gw2"); code != 1 || !strings.Contains(stderr, "takes no new sources") {
		t.Errorf("source add for an account being deleted: exit %d, stderr %s", code, stderr)
	}
}
