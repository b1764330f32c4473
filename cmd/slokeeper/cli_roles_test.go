package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
)

// cliPerson is someone at their own shell: their own configuration
// directory (so their own credentials.json) and nothing else.
type cliPerson struct {
	t    *testing.T
	name string
	env  map[string]string
}

// run runs a command as them and returns its output and exit status.
func (p cliPerson) run(args ...string) (string, string, int) {
	p.t.Helper()
	return cliEnv(p.t, p.env, "", args...)
}

// err runs a command as them and returns the error it ended with, so
// that a test can tell a refusal (EFORBIDDEN, the API's 403) from any
// other failure.
func (p cliPerson) err(args ...string) error {
	var out, errb bytes.Buffer
	return dispatch(context.Background(), args, func(k string) string { return p.env[k] }, strings.NewReader(""), &out, &errb)
}

// cliLogin makes an operator of role (no TOTP, password already chosen)
// and signs them in with slokeeper login from a configuration directory
// of their own (XDG_CONFIG_HOME).
func cliLogin(t *testing.T, m *Main, name, role string) cliPerson {
	t.Helper()
	op, err := newOperator(name, role, "a long test password", m.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	op.MustChangePassword = false
	if err := m.Store.Operators.CreateOperator(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	p := cliPerson{t: t, name: name, env: map[string]string{"XDG_CONFIG_HOME": t.TempDir()}}
	if out, stderr, code := cliEnv(t, p.env, "a long test password\n\n", "login", "--server", m.HTTP.URL(), "--name", name); code != 0 || !strings.Contains(out, "as "+name+" ("+role+")") {
		t.Fatalf("login as %s = %d %q %q", name, code, out, stderr)
	}
	return p
}

// TestCLIRoles: each role's job done with the command line after
// slokeeper login, against one real server: support answers an incident
// and reads logs; an operator's grant is approved by a second admin in
// their own sign-in and the operator reads the account's data, while a
// requester's own approval is refused; an auditor reads the ledger, the
// evidence and the access review and every change they try is refused
// with nothing changed; an admin adds an operator who can then sign in.
// None of it touches the store directly: the ledger names each person
// and their token, never local:.
func TestCLIRoles(t *testing.T) {
	m := MustRunMain(t, testConfig())
	ctx := context.Background()
	carol := cliLogin(t, m, "carol", slokeeper.RoleAdmin)
	dave := cliLogin(t, m, "dave", slokeeper.RoleAdmin)

	// The admin sets up an account and its log source through the API.
	if _, stderr, code := carol.run("account", "create", "--id", "acme", "--name", "ACME 株式会社"); code != 0 {
		t.Fatalf("account create = %d %q", code, stderr)
	}
	if _, stderr, code := carol.run("source", "add", "--kind", "agent", "--account", "nobody", "--name", "gw"); code != 1 || !strings.Contains(stderr, `There is no account "nobody"`) {
		t.Errorf("source add for an account that does not exist = %d %q", code, stderr)
	}
	out, stderr, code := carol.run("source", "add", "--kind", "agent", "--account", "acme", "--name", "gateway 1")
	src := regexp.MustCompile(`source: (src_\S+)\ntoken:  (slk_\S+)\n`).FindStringSubmatch(out)
	if code != 0 || src == nil || !strings.Contains(stderr, "not be shown again") {
		t.Fatalf("source add = %d %q %q", code, out, stderr)
	}
	if out, _, code := carol.run("source", "list", "--account", "acme"); code != 0 || !strings.Contains(out, src[1]) || strings.Contains(out, "slk_") {
		t.Errorf("source list = %d %q", code, out)
	}
	if r := post(t, m.HTTP.URL()+"/api/v1/logs", src[2], "application/x-ndjson", []byte(`{"level":"error","message":"センサーの応答がありません"}`+"\n")); r.status != 200 {
		t.Fatalf("ingest with the new source's token = %d %s", r.status, r.body)
	}
	if out, _, code := carol.run("account", "list"); code != 0 || !regexp.MustCompile(`acme\s+ACME 株式会社\s+active`).MatchString(out) {
		t.Errorf("account list = %d %q", code, out)
	}

	t.Run("SupportAnswersAnIncidentAndReadsLogs", func(t *testing.T) {
		sam := cliLogin(t, m, "sam", slokeeper.RoleSupport)
		out, stderr, code := sam.run("incident", "open", "--title-ja", "ログの受信遅延", "--title-en", "Delayed log ingestion", "--impact", "minor",
			"--body-ja", "ログの受信が遅れています。調査しております。", "--body-en", "Log ingestion is delayed; we are investigating.")
		id := regexp.MustCompile(`opened (in_\S+) \(investigating, minor\)`).FindStringSubmatch(out)
		if code != 0 || id == nil {
			t.Fatalf("incident open = %d %q %q", code, out, stderr)
		}
		if _, stderr, code := sam.run("incident", "update", id[1], "--status", "identified", "--body-ja", "原因を特定しました。", "--body-en", "We found the cause."); code != 0 {
			t.Fatalf("incident update --status identified = %d %q", code, stderr)
		}
		// Without --status the update keeps the current status, as the
		// console's form does: it does not fall back to investigating.
		if out, stderr, code := sam.run("incident", "update", id[1], "--body-ja", "対応を続けております。", "--body-en", "We are still working on it."); code != 0 || out != "updated "+id[1]+": identified\n" {
			t.Errorf("incident update without --status = %d %q %q", code, out, stderr)
		}
		if out, _, code := sam.run("incident", "list", "--open", "--lang", "en"); code != 0 || !regexp.MustCompile(id[1]+`\s+identified\s+minor\s.*\s3\s.*Delayed log ingestion`).MatchString(out) {
			t.Errorf("incident list --open = %d %q", code, out)
		}
		if out, stderr, code := sam.run("incident", "resolve", id[1]); code != 0 || out != "updated "+id[1]+": resolved\n" {
			t.Errorf("incident resolve = %d %q %q", code, out, stderr)
		}
		file := filepath.Join(t.TempDir(), "postmortem-ja.md")
		os.WriteFile(file, []byte("# 振り返り\n受信キューが詰まっていました。"), 0o600)
		if _, stderr, code := sam.run("incident", "postmortem", id[1], "--ja-file", file, "--en", "The ingest queue was stuck."); code != 0 {
			t.Errorf("incident postmortem = %d %q", code, stderr)
		}
		incs, err := m.Store.Incidents.FindIncidents(ctx, slokeeper.IncidentFilter{ID: id[1]})
		if err != nil || len(incs) != 1 {
			t.Fatalf("the incident in the store: %v %v", incs, err)
		}
		inc := incs[0]
		if inc.Status != slokeeper.IncidentResolved || len(inc.Updates) != 4 || inc.Updates[2].Status != slokeeper.IncidentIdentified ||
			!strings.Contains(inc.PostmortemJA, "受信キュー") || inc.PostmortemEN != "The ingest queue was stuck." {
			t.Errorf("the incident as stored: %+v", inc)
		}
		if out, stderr, code := sam.run("incident", "list", "--open"); code != 0 || strings.Contains(out, id[1]) {
			t.Errorf("a resolved incident in incident list --open = %d %q %q", code, out, stderr)
		}
		// Support reads the account's logs.
		if out, stderr, code := sam.run("logs", "query", "--account", "acme", "--format", "text"); code != 0 || !strings.Contains(out, "センサーの応答がありません") {
			t.Errorf("logs query = %d %q %q", code, out, stderr)
		}
		// Support does not manage sources.
		if err := sam.err("source", "add", "--kind", "agent", "--account", "acme", "--name", "x"); slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN {
			t.Errorf("source add by support: %v, want EFORBIDDEN", err)
		}
		assertActors(t, m, sam, "incident.open", "incident.update", "incident.postmortem", "logs.query")
	})

	t.Run("OperatorGrantApprovedBySecondAdmin", func(t *testing.T) {
		olga := cliLogin(t, m, "olga", slokeeper.RoleOperator)
		// Carol writes the account's data under her own grant, which she
		// may not approve herself: dave does, in his own sign-in.
		out, _, _ := carol.run("grant", "request", "--account", "acme", "--scope", "data", "--reason", "set up thresholds", "--duration", "1h")
		cg := grantID(t, out)
		if err := carol.err("grant", "approve", cg); slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN || !strings.Contains(slokeeper.ErrorMessage(err), "You cannot approve your own access grant") {
			t.Errorf("the requester's own approval: %v", err)
		}
		if _, stderr, code := dave.run("grant", "approve", cg); code != 0 {
			t.Fatalf("dave's approval = %d %q", code, stderr)
		}
		if _, stderr, code := carol.run("account", "put", "acme", "--kind", "data", "--key", "threshold", "--value", "42"); code != 0 {
			t.Fatalf("account put = %d %q", code, stderr)
		}

		out, stderr, code := olga.run("grant", "request", "--account", "acme", "--scope", "data", "--reason", "ticket 1234: customer asks about thresholds", "--duration", "30m", "--lang", "en")
		if code != 0 || !strings.Contains(out, "grant requested") || !regexp.MustCompile(`operator:\s+olga\n`).MatchString(out) {
			t.Fatalf("grant request = %d %q %q", code, out, stderr)
		}
		og := grantID(t, out)
		if err := olga.err("grant", "approve", og); slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN {
			t.Errorf("olga approving her own grant: %v, want EFORBIDDEN", err)
		}
		if err := olga.err("account", "get", "acme", "--kind", "data", "--key", "threshold"); slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN {
			t.Errorf("a read before approval: %v, want EFORBIDDEN", err)
		}
		if out, stderr, code := dave.run("grant", "list", "--lang", "en"); code != 0 || !regexp.MustCompile(og+`\s+olga\s+ACME 株式会社 \(acme\)\s+data\s+30m\s+pending`).MatchString(out) {
			t.Errorf("the approver's queue = %d %q %q", code, out, stderr)
		}
		if out, stderr, code := dave.run("grant", "approve", og, "--lang", "en"); code != 0 || !regexp.MustCompile(`approver:\s+dave\n`).MatchString(out) {
			t.Fatalf("dave approves olga's grant = %d %q %q", code, out, stderr)
		}
		if out, stderr, code := olga.run("account", "get", "acme", "--kind", "data", "--key", "threshold"); code != 0 || out != "42" {
			t.Errorf("olga reads the account's data = %d %q %q", code, out, stderr)
		}
		assertActors(t, m, olga, "grant.request", "data.read")
		assertActors(t, m, dave, "grant.approve")
	})

	t.Run("AuditorReadsAndChangesNothing", func(t *testing.T) {
		aki := cliLogin(t, m, "aki", slokeeper.RoleAuditor)
		if out, stderr, code := aki.run("audit", "show", "--action", "grant", "--limit", "0"); code != 0 || !strings.Contains(out, "grant.approve") || strings.Contains(out, "login ") {
			t.Errorf("audit show --action grant = %d %q %q", code, out, stderr)
		}
		if out, stderr, code := aki.run("audit", "verify"); code != 0 || !regexp.MustCompile(`audit ledger verified: \d+ entries`).MatchString(out) {
			t.Errorf("audit verify = %d %q %q", code, out, stderr)
		}
		out, stderr, code := aki.run("audit", "export")
		entries := auditEntries(t, m)
		if code != 0 || !strings.Contains(strings.SplitN(out, "\n", 2)[0], `"type":"verifier_key"`) || strings.Count(out, `"type":"entry"`) != len(entries) {
			t.Errorf("audit export = %d, %d entries, want %d: %.300q %q", code, strings.Count(out, `"type":"entry"`), len(entries), out, stderr)
		}
		if out, stderr, code := aki.run("evidence", "list", "--format", "json", "--limit", "0"); code != 0 || !strings.Contains(out, `"n": `) {
			t.Errorf("evidence list = %d %q %q", code, out, stderr)
		}
		// The access review names who approved olga's grant and that she
		// used it once.
		if out, stderr, code := aki.run("access", "review", "--lang", "en"); code != 0 || !regexp.MustCompile(`olga\s+ACME 株式会社 \(acme\)\s+data\s+30m\s+active\s+dave\s+\S+\s+1\s`).MatchString(out) ||
			!regexp.MustCompile(`aki\s+auditor\s+false\s+active`).MatchString(out) {
			t.Errorf("access review = %d %q %q", code, out, stderr)
		}

		grants, _ := m.Store.Grants.FindGrants(ctx, slokeeper.GrantFilter{})
		out, _, _ = dave.run("grant", "request", "--account", "acme", "--reason", "check", "--duration", "1h")
		pending := grantID(t, out)
		before := len(auditEntries(t, m))
		writes := [][]string{
			{"incident", "open", "--title-ja", "障害", "--title-en", "Outage", "--impact", "major", "--body-ja", "調査中です。", "--body-en", "Investigating."},
			{"account", "create", "--id", "other", "--name", "Other"},
			{"account", "delete", "acme"},
			{"account", "put", "acme", "--kind", "data", "--key", "k", "--value", "v"},
			{"grant", "request", "--account", "acme", "--reason", "curious", "--duration", "1h"},
			{"grant", "approve", pending},
			{"grant", "revoke", pending},
			{"source", "add", "--kind", "agent", "--account", "acme", "--name", "x"},
			{"source", "revoke", src[1]},
			{"maintenance", "schedule", "--start", m.Clock.Now().Add(10 * 24 * time.Hour).Format(time.RFC3339), "--end", m.Clock.Now().Add(10*24*time.Hour + time.Hour).Format(time.RFC3339), "--title-ja", "作業", "--title-en", "Work"},
			{"component", "remove", "api"},
			{"operator", "add", "--name", "mallory", "--role", "admin"},
			{"audit", "checkpoint"},
		}
		for _, w := range writes {
			if err := aki.err(w...); slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN {
				t.Errorf("auditor: slokeeper %s: %v, want refused (EFORBIDDEN, 403)", strings.Join(w, " "), err)
			}
		}
		if after := len(auditEntries(t, m)); after != before {
			t.Errorf("the auditor's refused commands changed the ledger: %d entries, were %d", after, before)
		}
		as, _ := m.Store.Accounts.FindAccounts(ctx, slokeeper.AccountFilter{})
		srcs, _ := m.Store.Sources.FindSources(ctx, slokeeper.SourceFilter{})
		gs, _ := m.Store.Grants.FindGrants(ctx, slokeeper.GrantFilter{})
		if len(as) != 1 || as[0].Status != slokeeper.AccountActive || len(srcs) != 1 || len(gs) != len(grants)+1 {
			t.Errorf("after the auditor's attempts: accounts %v, sources %v, %d grants (want %d)", as, srcs, len(gs), len(grants)+1)
		}
		for _, g := range gs {
			if g.ID == pending && (!g.ApprovedAt.IsZero() || !g.RevokedAt.IsZero()) {
				t.Errorf("the auditor changed grant %s: %+v", pending, g)
			}
		}
	})

	t.Run("AdminAddsAnOperatorWhoSignsIn", func(t *testing.T) {
		out, stderr, code := carol.run("operator", "add", "--name", "nina", "--role", "operator")
		pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
		if code != 0 || pw == nil {
			t.Fatalf("operator add = %d %q %q", code, out, stderr)
		}
		nina := cliPerson{t: t, name: "nina", env: map[string]string{"XDG_CONFIG_HOME": t.TempDir()}}
		// The one-time password signs in only to choose her own, in the
		// same login: typed twice, and a mismatch changes nothing.
		login := func(input string) (string, string, int) {
			return cliEnv(t, nina.env, input, "login", "--server", m.HTTP.URL(), "--name", "nina")
		}
		if _, stderr, code := login(pw[1] + "\n\nニーナの新しいパスワード\nニーナの新しいパスワート\n"); code != 1 || !strings.Contains(stderr, "differ") {
			t.Errorf("login with mismatched new passwords = %d %q", code, stderr)
		}
		if _, stderr, code := login(pw[1] + "\n\nshort\nshort\n"); code != 1 || !strings.Contains(stderr, "at least 12 characters") {
			t.Errorf("login with a short new password = %d %q", code, stderr)
		}
		if out, stderr, code := login(pw[1] + "\n\nニーナの新しいパスワード\nニーナの新しいパスワード\n"); code != 0 || !strings.Contains(out, "as nina (operator)") {
			t.Fatalf("nina's first login = %d %q %q", code, out, stderr)
		}
		changed := false
		for _, e := range auditEntries(t, m) {
			changed = changed || e.Action == "operator.password" && e.Target == "operator:nina" && strings.HasPrefix(e.Actor, "operator:nina")
		}
		if !changed {
			t.Error("no operator.password by nina in the ledger")
		}
		// The one-time password is gone; her own signs her in.
		if _, stderr, code := login(pw[1] + "\n\n"); code != 1 || !strings.Contains(stderr, "wrong") {
			t.Errorf("login with the spent one-time password = %d %q", code, stderr)
		}
		if out, stderr, code := login("ニーナの新しいパスワード\n\n"); code != 0 || !strings.Contains(out, "as nina (operator)") {
			t.Fatalf("nina's login = %d %q %q", code, out, stderr)
		}
		if out, _, code := nina.run("whoami"); code != 0 || !strings.HasPrefix(out, "nina (operator) on ") {
			t.Errorf("whoami = %d %q", code, out)
		}
		// The admin signs a checkpoint through the server, which covers
		// the request itself.
		out, stderr, code = carol.run("audit", "checkpoint")
		n := len(auditEntries(t, m))
		if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("checkpoint: %d entries\n", n)) {
			t.Errorf("audit checkpoint = %d %q %q, want %d entries", code, out, stderr, n)
		}
		assertActors(t, m, carol, "operator.add", "audit.checkpoint")
	})

	// After login nothing acted on the store directly.
	for _, e := range auditEntries(t, m) {
		if strings.HasPrefix(e.Actor, "local:") || strings.Contains(e.Actor, " via ") {
			t.Errorf("ledger entry %s by %q: a CLI command after login acted on the store directly", e.Action, e.Actor)
		}
	}
}

// assertActors checks that the ledger has each action by p through the
// token their login stored.
func assertActors(t *testing.T, m *Main, p cliPerson, actions ...string) {
	t.Helper()
	c, err := readCredentials(func(k string) string { return p.env[k] })
	if err != nil || c == nil {
		t.Fatalf("credentials of %s: %v", p.name, err)
	}
	want := "operator:" + p.name + " token:" + c.TokenID
	found := map[string]bool{}
	for _, e := range auditEntries(t, m) {
		if e.Actor == want {
			found[e.Action] = true
		}
	}
	for _, a := range actions {
		if !found[a] {
			t.Errorf("no %s by %s in the ledger", a, want)
		}
	}
}

// TestNoAsFlag: --as, which let anyone act under any name, is gone from
// every command: it is an unknown flag, and no command defines it.
func TestNoAsFlag(t *testing.T) {
	for _, c := range [][]string{
		{"account", "create", "--as", "ops", "--id", "x", "--name", "X"},
		{"grant", "approve", "gr_x", "--as", "ops"},
		{"incident", "open", "--as", "ops"},
		{"audit", "checkpoint", "--as", "ops"},
		{"source", "add", "--as", "ops"},
		{"maintenance", "cancel", "mt_x", "--as", "ops"},
		{"operator", "add", "--as", "ops"},
	} {
		if _, stderr, code := cliRun(t, c...); code != 2 || !strings.Contains(stderr, "flag provided but not defined: -as") {
			t.Errorf("slokeeper %s = exit %d %q, want an unknown flag", strings.Join(c, " "), code, stderr)
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	def := regexp.MustCompile(`\.(String|Bool)(Var)?\([^)]*"as"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		if def.Match(b) || bytes.Contains(b, []byte("--as ")) {
			t.Errorf("%s still has an --as flag", f)
		}
	}
}
