package obligation

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/ledger"
	"slokeeper/internal/mailtest"
	"slokeeper/internal/smtp"
	"slokeeper/internal/sqlite"
	"slokeeper/policy"
)

// TestReminders: over a real SMTP conversation, each enabled admin with an
// address gets one reminder when a review falls due soon and one when it
// is overdue, in Japanese and English, never twice for the same stage;
// other roles, disabled admins and admins without an address get none;
// each reminder is evidence, and a reminder nobody could get is evidence
// of failure.
func TestReminders(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := sqlite.NewServices(db)
	p := policy.Default()
	origin := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	l, err := ledger.Open(ledger.Config{Store: svc.Audit, Dir: t.TempDir(), Clock: fixed(origin)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(ctx, "system:test", "install", "", ""); err != nil {
		t.Fatal(err)
	}
	srv := mailtest.Start(t)
	mailer, err := smtp.New(smtp.Config{Addr: srv.Addr, Username: srv.Username, Password: srv.Password, From: "slokeeper@example.jp", RootCAs: srv.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer mailer.Close()
	remind := func(at time.Time) int {
		t.Helper()
		n, err := Reminders(ctx, p, svc.Evidence, svc.Audit, svc.Operators, mailer, "https://status.example.jp", "n1", at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// No admin with an address yet: the reminder is owed to nobody, on record.
	dueSoon := origin.AddDate(0, 3, -7)
	if n := remind(dueSoon); n != 0 {
		t.Fatalf("sent %d with no admin", n)
	}
	rows, _, _ := svc.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: ActionReminder})
	if len(rows) != 1 || rows[0].Outcome != slokeeper.OutcomeFailed || rows[0].Subject != "access_review/2026-04-10/due_soon" {
		t.Fatalf("reminder to nobody: %+v", rows)
	}
	for _, o := range []*slokeeper.Operator{
		{ID: "op_a", Name: "alice", Role: slokeeper.RoleAdmin, Email: "alice@example.jp"},
		{ID: "op_b", Name: "bob", Role: slokeeper.RoleAdmin, Email: "bob@example.jp"},
		{ID: "op_c", Name: "carol", Role: slokeeper.RoleAdmin},
		{ID: "op_d", Name: "dan", Role: slokeeper.RoleOperator, Email: "dan@example.jp"},
	} {
		o.PasswordHash, o.CreatedAt = "x", origin
		if err := svc.Operators.CreateOperator(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Operators.UpdateOperator(ctx, "op_b", slokeeper.OperatorUpdate{DisabledAt: &origin}); err != nil {
		t.Fatal(err)
	}
	if n := remind(dueSoon.Add(time.Hour)); n != 0 {
		t.Errorf("the due-soon stage was reminded again: %d", n)
	}
	overdue := origin.AddDate(0, 3, 1)
	if n := remind(overdue); n != 1 {
		t.Fatalf("overdue: sent %d, want 1 (alice): %+v", n, srv.Messages())
	}
	if n := remind(overdue.Add(24 * time.Hour)); n != 0 {
		t.Errorf("overdue reminded twice: %d", n)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To != "alice@example.jp" || !strings.Contains(msgs[0].Subject, "アクセスレビューの期限を過ぎています") ||
		!strings.Contains(msgs[0].Subject, "Access review is overdue") || !strings.Contains(msgs[0].Body, "2026年4月10日(金) 09:00 JST") ||
		!strings.Contains(msgs[0].Body, "https://status.example.jp/admin/obligations?lang=en") {
		t.Fatalf("messages: %+v", msgs)
	}
	rows, _, _ = svc.Evidence.FindEvidence(ctx, slokeeper.EvidenceFilter{Action: ActionReminder})
	if len(rows) != 2 || rows[1].Outcome != slokeeper.OutcomeOK || rows[1].Detail != "reminded alice" || rows[1].Subject != "access_review/2026-04-10/overdue" {
		t.Errorf("evidence: %+v", rows[1:])
	}
}

// fixed is a clock stopped at one instant.
type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }
