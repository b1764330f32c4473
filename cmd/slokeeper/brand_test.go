package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatusPageBranding: the operator's name, logo and colour from the
// configuration, escaped where a page shows them; bad values refused with
// the key named.
func TestStatusPageBranding(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nnot really")
	logo := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(logo, png, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Data = t.TempDir()
	cfg.StatusNameJA, cfg.StatusNameEN, cfg.StatusLogo, cfg.StatusColor = "ACME <クラウド>", "ACME Cloud", logo, "#0b57d0"
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	m := MustRunMain(t, cfg)
	ja := get(t, http.DefaultClient, m.HTTP.URL()+"/?lang=ja")
	if ja.status != 200 || !strings.Contains(ja.body, "<h1>ACME &lt;クラウド&gt; 稼働状況</h1>") || !strings.Contains(ja.body, `<img class="logo" src="/logo"`) ||
		!strings.Contains(ja.body, `<link rel="stylesheet" href="/brand.css">`) {
		t.Errorf("branded page (ja) = %d %s", ja.status, ja.body)
	}
	if en := get(t, http.DefaultClient, m.HTTP.URL()+"/history?lang=en"); !strings.Contains(en.body, "ACME Cloud Status") {
		t.Errorf("branded history (en) = %d %s", en.status, en.body)
	}
	if css := get(t, http.DefaultClient, m.HTTP.URL()+"/brand.css"); css.status != 200 || !strings.Contains(css.body, "a{color:#0b57d0}") {
		t.Errorf("/brand.css = %d %s", css.status, css.body)
	}
	resp, err := http.Get(m.HTTP.URL() + "/logo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "style-src 'self'") {
		t.Errorf("/logo = %d %q, CSP %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}

	for _, c := range []struct{ key, logo, color string }{
		{"status_color", "", "red"},
		{"status_color", "", "#12345"},
		{"status_color", "", "#fff;}body{display:none"},
		{"status_logo", "http://example.jp/logo.png", ""},
		{"status_logo", "javascript:alert(1)//x.png", ""},
		{"status_logo", filepath.Join(t.TempDir(), "missing.png"), ""},
		{"status_logo", logo + ".gif", ""},
	} {
		bad := testConfig()
		bad.Data, bad.StatusLogo, bad.StatusColor = t.TempDir(), c.logo, c.color
		if err := bad.validate(); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("logo %q colour %q: %v, want an error naming %s", c.logo, c.color, err, c.key)
		}
	}
	ok := testConfig()
	ok.Data, ok.StatusLogo, ok.StatusColor = t.TempDir(), "https://cdn.example.jp/logo.svg", "#06c"
	if err := ok.validate(); err != nil {
		t.Errorf("an https logo and #06c: %v", err)
	}
}
