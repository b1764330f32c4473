package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"slokeeper"

	"slokeeper/internal/browsertest"

	"github.com/chromedp/chromedp"
)

type css = chromedp.CSS

// TestConsoleSignInInBrowser signs in to the operator console in a real
// browser, in Japanese and in English: a wrong password, then the right
// one, the forced password change, and signing out.
func TestConsoleSignInInBrowser(t *testing.T) {
	ctx := browsertest.Browser(t)
	cfg := testConfig()
	cfg.Data = t.TempDir()
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	op, _ := newOperator("yuki", "support", "initial-password-1", m.Clock.Now())
	m.Store.Operators.CreateOperator(context.Background(), op) // must change at first sign-in
	base := m.HTTP.URL()

	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	do(chromedp.Navigate(base+"/admin/?lang=ja"), chromedp.WaitVisible(css(`#name`))) // not signed in: to the sign-in page
	if h := text(`h1`); h != "運用コンソールにサインイン" {
		t.Errorf("Japanese sign-in heading = %q", h)
	}
	do(chromedp.SendKeys(css(`#name`), "yuki"), chromedp.SendKeys(css(`#password`), "wrong password"),
		chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css(`.error`)))
	if e := text(`.error`); !strings.Contains(e, "正しくありません") {
		t.Errorf("error message = %q", e)
	}
	do(chromedp.SetValue(css(`#password`), "initial-password-1"), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`#new`)), // the forced password change
		chromedp.SendKeys(css(`#old`), "initial-password-1"), chromedp.SendKeys(css(`#new`), "新しいパスワードです12"),
		chromedp.Click(css(`form[action^="/admin/password"] button`)), chromedp.WaitNotPresent(css(`#new`)))
	if b := text(`body`); !strings.Contains(b, "サインイン中: yuki (support)") {
		t.Errorf("console after the change:\n%s", b)
	}
	do(chromedp.Click(css(`form[action^="/admin/logout"] button`)), chromedp.WaitVisible(css(`#name`)),
		chromedp.Navigate(base+"/admin/login?lang=en"), chromedp.WaitVisible(css(`#name`)))
	if h := text(`h1`); h != "Sign in to the operator console" {
		t.Errorf("English sign-in heading = %q", h)
	}
	do(chromedp.SendKeys(css(`#name`), "yuki"), chromedp.SendKeys(css(`#password`), "新しいパスワードです12"),
		chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css(`form[action^="/admin/logout"]`)))
	if b := text(`body`); !strings.Contains(b, "Signed in as: yuki (support)") {
		t.Errorf("English console:\n%s", b)
	}
}

// TestStatusConsoleInBrowser runs the console's status page in a real
// browser as an operator: an incident opened and resolved, a window
// refused for its short notice and then scheduled and cancelled, a
// webhook added (its secret shown once) and removed. Each step is
// announced as the API's would be.
func TestStatusConsoleInBrowser(t *testing.T) {
	ctx := browsertest.Browser(t)
	cfg := testConfig()
	cfg.Data = t.TempDir()
	withMail(t, &cfg)
	m := NewMain(cfg, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	bg := context.Background()
	m.Store.Components.PutComponent(bg, &slokeeper.Component{ID: "runtime", NameJA: "クラウド実行環境", NameEN: "Cloud runtime",
		Interval: slokeeper.Duration(time.Hour), Probe: slokeeper.Probe{Kind: slokeeper.ProbeTCP, Target: "127.0.0.1:1"}})
	op, _ := newOperator("ops", slokeeper.RoleOperator, "a long test password", m.Clock.Now())
	op.MustChangePassword = false
	m.Store.Operators.CreateOperator(bg, op)
	base := m.HTTP.URL()
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	do(chromedp.Navigate(base+"/admin/login?lang=ja"), chromedp.WaitVisible(css(`#name`)),
		chromedp.SendKeys(css(`#name`), "ops"), chromedp.SendKeys(css(`#password`), "a long test password"),
		chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css(`a[href^="/admin/status"]`)),
		chromedp.Click(css(`a[href^="/admin/status"]`)), chromedp.WaitVisible(css(`#incidents`)))

	// An incident, opened and resolved.
	do(chromedp.Click(css(`section[aria-labelledby=incidents] summary`)), // the form is in a closed <details>
		chromedp.SendKeys(css(`#ititle_ja`), "クラウド実行環境の遅延"), chromedp.SendKeys(css(`#ititle_en`), "Cloud runtime is slow"),
		chromedp.Click(css(`#open-incident input[value=runtime]`)),
		chromedp.SendKeys(css(`#ibody_ja`), "応答が遅くなっています。調査中です。"), chromedp.SendKeys(css(`#ibody_en`), "Responses are slow. We are investigating."),
		chromedp.Click(css(`#open-incident button`)), chromedp.WaitNotPresent(css(`details[open]`)), chromedp.WaitVisible(css(`.done`)))
	if d := text(`.done`); !strings.Contains(d, "障害を登録し") {
		t.Errorf("after opening: %q", d)
	}
	if page := get(t, http.DefaultClient, base+"/?lang=ja").body; !strings.Contains(page, "クラウド実行環境の遅延") {
		t.Error("the incident is not on the status page")
	}
	do(chromedp.SetValue(css(`select[name=status]`), "resolved"),
		chromedp.SendKeys(css(`textarea[name=body_ja]`), "復旧しました。"), chromedp.SendKeys(css(`textarea[name=body_en]`), "Resolved."),
		chromedp.Click(css(`form[action*="/updates"] button`)), chromedp.WaitNotPresent(css(`form[action*="/updates"]`)), chromedp.WaitVisible(css(`.done`)))
	if b := text(`#incidents + p`); !strings.Contains(b, "対応中の障害はありません") {
		t.Errorf("after resolving: %q", b)
	}

	// A window: six days ahead is refused with the earliest start; eight is scheduled.
	loc := m.Policy.Location()
	at := func(days int) string {
		return time.Now().In(loc).Add(time.Duration(days) * 24 * time.Hour).Truncate(time.Hour).Format("2006-01-02T15:04")
	}
	schedule := func(days int) {
		t.Helper()
		do(chromedp.Click(css(`section[aria-labelledby=maintenance] summary`)),
			chromedp.SendKeys(css(`#mtitle_ja`), "データベースの更新"), chromedp.SendKeys(css(`#mtitle_en`), "Database upgrade"),
			chromedp.SetValue(css(`#start`), at(days)), chromedp.SetValue(css(`#end`), at(days)[:11]+"23:59"),
			chromedp.Click(css(`#schedule button`)), chromedp.WaitNotPresent(css(`details[open]`)), chromedp.WaitVisible(css(`.error, .done`)))
	}
	schedule(6)
	if e := text(`.error`); !strings.Contains(e, "最も早い開始は") {
		t.Errorf("six days ahead: %q", e)
	}
	schedule(8)
	if d := text(`.done`); !strings.Contains(d, "メンテナンスを登録し") {
		t.Errorf("eight days ahead: %q", d)
	}
	do(chromedp.Click(css(`form[action*="/cancel"] button`)), chromedp.WaitNotPresent(css(`form[action*="/cancel"]`)), chromedp.WaitVisible(css(`.done`)))
	if d := text(`.done`); !strings.Contains(d, "中止") {
		t.Errorf("cancel: %q", d)
	}
	as, _ := m.Store.Notices.FindAnnouncements(bg, slokeeper.AnnouncementFilter{})
	var kinds []string
	for _, a := range as {
		kinds = append(kinds, a.Kind)
	}
	if got := strings.Join(kinds, " "); got != "incident.opened incident.resolved maintenance.scheduled maintenance.cancelled" {
		t.Errorf("announcements: %s", got)
	}

	// A webhook: its secret once, then removed.
	do(chromedp.Click(css(`section[aria-labelledby=subscribers] summary`)),
		chromedp.SendKeys(css(`#url`), "https://hooks.example.jp/status"), chromedp.Click(css(`#webhook button`)),
		chromedp.WaitNotPresent(css(`details[open]`)), chromedp.WaitVisible(css(`#webhook-secret`)))
	if s := text(`#webhook-secret`); !strings.HasPrefix(s, "whsec_") {
		t.Errorf("secret = %q", s)
	}
	do(chromedp.Navigate(base+"/admin/status?lang=en"), chromedp.WaitVisible(css(`#subscribers`)))
	if n, _ := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`#webhook-secret`), chromedp.AtLeast(0))); len(n) != 0 {
		t.Error("the secret is shown again")
	}
	do(chromedp.Click(css(`form[action$="/delete?lang=en"] button`)), chromedp.WaitNotPresent(css(`form[action$="/delete?lang=en"]`)), chromedp.WaitVisible(css(`.done`)))
	if subs, _ := m.Store.Notices.FindSubscribers(bg, slokeeper.SubscriberFilter{}); len(subs) != 0 {
		t.Errorf("subscribers after removing: %+v", subs)
	}
	if out, _, _ := cliRun(t, "audit", "show", "--data", cfg.Data, "--limit", "0"); !strings.Contains(out, "subscriber.webhook.add") || !strings.Contains(out, "maintenance.cancel") {
		t.Error("the ledger lacks the console's actions")
	}
}
