package main

import (
	"context"
	"io"
	"strings"
	"testing"

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
