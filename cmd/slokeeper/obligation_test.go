package main

import (
	"context"
	"strings"
	"testing"

	"slokeeper"
	"slokeeper/obligation"
)

// TestObligationCLI: after slokeeper login an auditor lists the periodic
// reviews and may not sign one off; an admin signs off the access review
// with a note, which the ledger records under the admin's name with the
// review's digest, and the list then shows the sign-off.
func TestObligationCLI(t *testing.T) {
	m := MustRunMain(t, testConfig())
	admin := cliLogin(t, m, "carol", slokeeper.RoleAdmin)
	auditor := cliLogin(t, m, "audrey", slokeeper.RoleAuditor)

	out, stderr, code := auditor.run("obligation", "list", "--lang", "en")
	if code != 0 || !strings.Contains(out, "access_review") || !strings.Contains(out, "internal_audit") || !strings.Contains(out, "on schedule") || !strings.Contains(out, "3 months") {
		t.Fatalf("auditor's list = %d\n%s%s", code, out, stderr)
	}
	if err := auditor.err("obligation", "signoff", "access_review", "--note", "x"); slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN {
		t.Errorf("auditor's sign-off: %v, want EFORBIDDEN", err)
	}
	if _, stderr, code := admin.run("obligation", "signoff", "access_review"); code != 1 || !strings.Contains(stderr, "needs a note") {
		t.Errorf("sign-off without a note = %d %q", code, stderr)
	}
	if out, stderr, code := admin.run("obligation", "signoff", "access_review", "--note", "権限とアクセス許可を全件確認、問題なし"); code != 0 || !strings.Contains(out, "signed off access_review (ok") {
		t.Fatalf("admin's sign-off = %d %q %q", code, out, stderr)
	}
	var found bool
	if err := m.Store.Audit.EachAuditEntry(context.Background(), 1, 0, func(e *slokeeper.AuditEntry) error {
		if e.Action == "obligation.signoff" {
			found = strings.HasPrefix(e.Actor, "operator:carol token:") && e.Target == "obligation:access_review" &&
				strings.Contains(e.Detail, "権限とアクセス許可を全件確認") && strings.Contains(e.Detail, "sha256:")
		}
		return nil
	}); err != nil || !found {
		t.Errorf("no ledger entry of carol's sign-off (%v)", err)
	}
	out, _, _ = admin.run("obligation", "list", "--lang", "ja")
	if !strings.Contains(out, "(ok)") || !strings.Contains(out, "期限内") {
		t.Errorf("list after the sign-off:\n%s", out)
	}
	rows, _, err := m.Store.Evidence.FindEvidence(context.Background(), slokeeper.EvidenceFilter{Action: obligation.ActionSignOff})
	if err != nil || len(rows) != 1 || rows[0].Clause != "access" {
		t.Errorf("evidence: %+v %v", rows, err)
	}
}
