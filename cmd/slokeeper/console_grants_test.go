package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"slokeeper"
	"slokeeper/internal/browsertest"

	"github.com/chromedp/chromedp"
)

// consoleBrowser signs an operator made by signIn in to the console in
// a browser of their own (their own session) and returns its helpers.
func consoleBrowser(t *testing.T, m *Main, name string) (do func(...chromedp.Action[chromedp.Void]), text func(string) string) {
	t.Helper()
	do, text = consoleBrowserCtx(t)
	do(chromedp.Navigate(m.HTTP.URL()+"/admin/login?lang=ja"), chromedp.WaitVisible(css(`#name`)),
		chromedp.SendKeys(css(`#name`), name), chromedp.SendKeys(css(`#password`), "a long test password"),
		chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css(`form[action^="/admin/logout"]`)))
	return do, text
}

// consoleBrowserCtx is a browser of its own, not signed in.
func consoleBrowserCtx(t *testing.T) (do func(...chromedp.Action[chromedp.Void]), text func(string) string) {
	t.Helper()
	ctx := browsertest.Browser(t)
	do = func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text = func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return do, text
}

// pendingGrant returns the ID of an operator's grant waiting for approval.
func pendingGrant(t *testing.T, m *Main, name string) string {
	t.Helper()
	ops, err := m.Store.Operators.FindOperators(context.Background(), slokeeper.OperatorFilter{Name: name})
	if err != nil || len(ops) != 1 {
		t.Fatalf("operator %s: %v %v", name, ops, err)
	}
	gs, err := m.Store.Grants.FindGrants(context.Background(), slokeeper.GrantFilter{OperatorID: ops[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.ApprovedAt.IsZero() && g.RevokedAt.IsZero() {
			return g.ID
		}
	}
	t.Fatalf("%s has no grant waiting", name)
	return ""
}

// TestConsoleGrantInBrowser: an operator requests access to an account's
// data in the console, is refused the data until a second admin approves
// in their own session, then reads it; the read is in the ledger under
// that grant. An admin cannot approve their own request, neither by the
// page (no button) nor by posting the form.
func TestConsoleGrantInBrowser(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	api := m.HTTP.URL() + "/api/v1"
	kenji, alice := signIn(t, m, "kenji", "operator"), signIn(t, m, "alice", "admin")
	signIn(t, m, "bob", "admin")
	if r := postJSON(t, kenji, api+"/accounts", `{"id":"acct-1","name":"工場A"}`); r.status != 201 {
		t.Fatalf("create account = %d %s", r.status, r.body)
	}
	if r := put(t, kenji, api+"/accounts/acct-1/credentials/mqtt", "mqtt-pass-7f3e"); r.status != 200 {
		t.Fatalf("put credential = %d %s", r.status, r.body)
	}

	opDo, opText := consoleBrowser(t, m, "kenji")
	opDo(chromedp.Navigate(m.HTTP.URL()+"/admin/accounts/acct-1?lang=ja"), chromedp.WaitVisible(css(`.error`)))
	if e := opText(`.error`); !strings.Contains(e, "アクセス許可が必要") && !strings.Contains(e, "有効なアクセス許可") {
		t.Errorf("reading without a grant: %q", e)
	}
	opDo(chromedp.Navigate(m.HTTP.URL()+"/admin/grants?lang=ja"), chromedp.WaitVisible(css(`#reason`)),
		chromedp.SendKeys(css(`#account`), "acct-1"), chromedp.SetValue(css(`#scope`), "credential"),
		chromedp.SetValue(css(`#duration`), "1h"), chromedp.SendKeys(css(`#reason`), "問い合わせ #42 の調査"),
		chromedp.Click(css(`form[action^="/admin/grants"] button`)), chromedp.WaitVisible(css(`.done`)))
	id := pendingGrant(t, m, "kenji")
	if row := opText(`#grant-` + id); !strings.Contains(row, "問い合わせ #42 の調査") || !strings.Contains(row, "1h") || !strings.Contains(row, "kenji") {
		t.Errorf("the pending grant's row: %q", row)
	}
	if b := opText(`section[aria-labelledby=pending]`); strings.Contains(b, "承認する") {
		t.Errorf("an operator is offered to approve: %q", b)
	}

	// alice asks for herself: no approve button for her own, and posting
	// the form anyway is refused.
	if r := postJSON(t, alice, api+"/grants", `{"account":"acct-1","scope":"all","reason":"incident review","duration":"1h"}`); r.status != 201 {
		t.Fatalf("alice's request = %d %s", r.status, r.body)
	}
	own := pendingGrant(t, m, "alice")
	aDo, aText := consoleBrowser(t, m, "alice")
	aDo(chromedp.Navigate(m.HTTP.URL()+"/admin/grants?lang=ja"), chromedp.WaitVisible(css(`#grant-`+own)))
	if row := aText(`#grant-` + own); strings.Contains(row, "承認する") {
		t.Errorf("alice is offered to approve her own grant: %q", row)
	}
	resp, err := alice.PostForm(m.HTTP.URL()+"/admin/grants/"+own+"/approve?lang=ja", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "ご自身の申請は承認できません") {
		t.Errorf("alice approving her own grant = %d\n%s", resp.StatusCode, body)
	}
	if own2 := pendingGrant(t, m, "alice"); own2 != own {
		t.Errorf("alice's grant is no longer pending")
	}

	// bob approves kenji's request in his own session.
	bDo, bText := consoleBrowser(t, m, "bob")
	bDo(chromedp.Navigate(m.HTTP.URL()+"/admin/grants?lang=en"), chromedp.WaitVisible(css(`#grant-`+id+` button.approve`)),
		chromedp.Click(css(`#grant-`+id+` button.approve`)), chromedp.WaitVisible(css(`.done`)))
	if d := bText(`.done`); d != "The grant is approved." {
		t.Errorf("after approving: %q", d)
	}
	if a := bText(`section[aria-labelledby=active]`); !strings.Contains(a, "kenji") || !strings.Contains(a, "bob") {
		t.Errorf("active grants after approval: %q", a)
	}

	// kenji reads the data, and the read is in the ledger under the grant.
	opDo(chromedp.Navigate(m.HTTP.URL()+"/admin/accounts/acct-1?lang=ja&kind=credential"), chromedp.WaitVisible(css(`main table a`)),
		chromedp.Click(css(`main table a`)), chromedp.WaitVisible(css(`#item-value`)))
	if v := opText(`#item-value`); v != "mqtt-pass-7f3e" {
		t.Errorf("the credential read under the grant = %q", v)
	}
	var reads int
	m.Store.Audit.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == "data.read" && e.Actor == "operator:kenji" && strings.HasSuffix(e.Detail, "under grant "+id) {
			reads++
		}
		return nil
	})
	if reads != 1 {
		t.Errorf("%d reads under grant %s in the ledger, want 1", reads, id)
	}
	// What the grant was used for, on bob's page.
	bDo(chromedp.Navigate(m.HTTP.URL()+"/admin/grants?lang=en"), chromedp.WaitVisible(css(`#grant-`+id)))
	if u := bText(`#grant-` + id + ` .uses`); !strings.Contains(u, "Reads under it (2)") {
		t.Errorf("the grant's uses: %q", u)
	}
}

// TestConsoleRolesAndErrorPages: an auditor sees the grants but no form
// and is refused a POST; a page a role may not use, or one that does not
// exist, is an HTML page in the reader's language.
func TestConsoleRolesAndErrorPages(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	audrey := signIn(t, m, "audrey", "auditor")
	base := m.HTTP.URL()

	r := get(t, audrey, base+"/admin/grants?lang=ja")
	if r.status != 200 || !strings.Contains(r.body, "アクセス許可") || strings.Contains(r.body, `method="post"`) {
		t.Errorf("the auditor's grants page = %d\n%s", r.status, r.body)
	}
	resp, err := audrey.PostForm(base+"/admin/grants?lang=en", url.Values{"account": {"acct-1"}, "scope": {"all"}, "duration": {"1h"}, "reason": {"looking around"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "Auditors cannot request") {
		t.Errorf("an auditor's grant request = %d\n%s", resp.StatusCode, body)
	}
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/admin/status?lang=ja", 403, "あなたの役割では使えません"},
		{"/admin/accounts/acct-1?lang=en", 403, "Your role cannot use this page"},
		{"/admin/no-such-page?lang=en", 404, "There is no such page here"},
		{"/admin/no-such-page?lang=ja", 404, "ページが見つかりません"},
	} {
		r := get(t, audrey, base+tt.path)
		if r.status != tt.status || !strings.Contains(r.body, tt.want) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s = %d %s\n%s", tt.path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
}
