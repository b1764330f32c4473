package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func postFormAs(t *testing.T, c *http.Client, u string, v url.Values) response {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// TestConsoleAccounts: an admin deletes an account from the console (it
// shows as being deleted, with the end of its cancel window) and cancels
// the deletion; an operator sees the accounts but cannot delete.
func TestConsoleAccounts(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	ops, alice := signIn(t, m, "ops", "operator"), signIn(t, m, "alice", "admin")
	base := m.HTTP.URL()
	if r := postJSON(t, ops, base+"/api/v1/accounts", `{"id":"acct-1","name":"工場A"}`); r.status != 201 {
		t.Fatalf("create account = %d %s", r.status, r.body)
	}

	r := get(t, ops, base+"/admin/accounts?lang=ja")
	if r.status != 200 || !strings.Contains(r.body, "工場A") || !strings.Contains(r.body, "有効") || strings.Contains(r.body, "/delete") {
		t.Errorf("the operator's accounts page = %d\n%s", r.status, r.body)
	}
	if r := postFormAs(t, ops, base+"/admin/accounts/acct-1/delete?lang=ja", nil); r.status != 403 || !strings.Contains(r.body, "管理者の権限が必要です") {
		t.Errorf("an operator deleting = %d\n%s", r.status, r.body)
	}
	if r := postFormAs(t, alice, base+"/admin/accounts/acct-1/delete?lang=en", nil); r.status != 200 || !strings.Contains(r.body, "Deletion requested") ||
		!strings.Contains(r.body, "Being deleted") || !strings.Contains(r.body, "Cancellable until") || !strings.Contains(r.body, "cancel-deletion") {
		t.Errorf("after deleting = %d\n%s", r.status, r.body)
	}
	if r := postFormAs(t, alice, base+"/admin/accounts/acct-1/delete?lang=en", nil); r.status != 409 || !strings.Contains(r.body, "already being deleted") {
		t.Errorf("deleting twice = %d\n%s", r.status, r.body)
	}
	if r := get(t, alice, base+"/admin/accounts?lang=en&status=active"); strings.Contains(r.body, "acct-1") {
		t.Errorf("the active filter lists a deleting account\n%s", r.body)
	}
	if r := postFormAs(t, alice, base+"/admin/accounts/acct-1/cancel-deletion?lang=en", nil); r.status != 200 || !strings.Contains(r.body, "The deletion is cancelled") {
		t.Errorf("cancelling = %d\n%s", r.status, r.body)
	}
}
