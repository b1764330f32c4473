package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"slokeeper/internal/auth"

	"github.com/chromedp/chromedp"
)

// TestConsoleOperatorEnrolsInBrowser: an admin adds an operator in the
// console and is shown the one-time password once; the new operator
// signs in with it in a browser of their own, chooses a password and
// turns two-factor sign-in on from the QR code's secret; from then on
// signing in takes a code.
func TestConsoleOperatorEnrolsInBrowser(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	m := NewMain(cfg, io.Discard)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	signIn(t, m, "alice", "admin")
	support := signIn(t, m, "sam", "support")
	base := m.HTTP.URL()

	aDo, aText := consoleBrowser(t, m, "alice")
	aDo(chromedp.Navigate(base+"/admin/operators?lang=ja"), chromedp.WaitVisible(css(`#add-operator`)),
		chromedp.SendKeys(css(`#name`), "hana"), chromedp.SetValue(css(`#role`), "operator"),
		chromedp.Click(css(`#add-operator button`)), chromedp.WaitVisible(css(`#new-password`)))
	password := aText(`#new-password`)
	if len(password) < 12 {
		t.Fatalf("one-time password %q", password)
	}
	if row := aText(`#operator-hana`); !strings.Contains(row, "パスワード変更待ち") {
		t.Errorf("the new operator's row: %q", row)
	}
	if r := get(t, support, base+"/admin/operators?lang=en"); r.status != 403 {
		t.Errorf("support on the operators page = %d", r.status)
	}

	hDo, hText := consoleBrowserCtx(t)
	hDo(chromedp.Navigate(base+"/admin/login?lang=en"), chromedp.WaitVisible(css(`#name`)),
		chromedp.SendKeys(css(`#name`), "hana"), chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(css(`button[type=submit]`)), chromedp.WaitVisible(css(`#new`)),
		chromedp.SendKeys(css(`#old`), password), chromedp.SendKeys(css(`#new`), "hana's own password 1"),
		chromedp.Click(css(`form[action^="/admin/password"] button`)), chromedp.WaitNotPresent(css(`#new`)),
		chromedp.Navigate(base+"/admin/totp?lang=en"), chromedp.WaitVisible(css(`#totp-qr`)))
	secret := hText(`#totp-secret`)
	code, err := auth.TOTPCode(secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	hDo(chromedp.SendKeys(css(`#code`), "000000"), chromedp.Click(css(`form[action^="/admin/totp"] button`)), chromedp.WaitVisible(css(`.error`)))
	if code == "000000" {
		t.Skip("the code happens to be 000000")
	}
	secret = hText(`#totp-secret`) // a wrong code: a new secret to scan
	if code, err = auth.TOTPCode(secret, clock.Now()); err != nil {
		t.Fatal(err)
	}
	hDo(chromedp.SendKeys(css(`#code`), code), chromedp.Click(css(`form[action^="/admin/totp"] button`)), chromedp.WaitVisible(css(`#totp-on`)))
	if d := hText(`.done`); !strings.Contains(d, "Two-factor sign-in is on") {
		t.Errorf("after enrolling: %q", d)
	}
	clock.Add(time.Minute)
	if r := postJSON(t, support, base+"/api/v1/auth/login", `{"name":"hana","password":"hana's own password 1"}`); r.status != 401 {
		t.Errorf("signing in without a code = %d %s", r.status, r.body)
	}
	next, _ := auth.TOTPCode(secret, clock.Now())
	if r := postJSON(t, support, base+"/api/v1/auth/login", `{"name":"hana","password":"hana's own password 1","totp":"`+next+`"}`); r.status != 200 {
		t.Errorf("signing in with the code = %d %s", r.status, r.body)
	}
}
