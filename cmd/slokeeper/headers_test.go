package main

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityHeaders: every route answers with a content security
// policy that allows no script and no framing, and whatever it answers a
// signed-in operator, or anyone under /admin/, is never stored by a cache.
// Each page's style blocks are allowed by their hash.
func TestSecurityHeaders(t *testing.T) {
	m := MustRunMain(t, testConfig())
	base := m.HTTP.URL()
	staff := signIn(t, m, "alice", "admin")
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	checked := 0
	for _, pattern := range m.HTTP.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || method != "GET" {
			continue
		}
		path = strings.ReplaceAll(path, "{$}", "")
		path = regexp.MustCompile(`\{\w+\}`).ReplaceAllString(path, "x")
		for who, c := range map[string]*http.Client{"anonymous": http.DefaultClient, "staff": staff} {
			r := get(t, c, base+path)
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") || r.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s GET %s (%d): CSP %q, X-Frame-Options %q", who, path, r.status, csp, r.header.Get("X-Frame-Options"))
			}
			private := who == "staff" || strings.HasPrefix(path, "/admin/")
			if cc := r.header.Get("Cache-Control"); private && path != "/api/v1/status" && cc != "no-store" {
				t.Errorf("%s GET %s (%d): Cache-Control %q, want no-store", who, path, r.status, cc)
			}
			if strings.Contains(r.body, "<script") || strings.Contains(r.body, " style=\"") {
				t.Errorf("%s GET %s has inline script or style attributes", who, path)
			}
			for _, s := range style.FindAllStringSubmatch(r.body, -1) {
				sum := sha256.Sum256([]byte(s[1]))
				if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, h) {
					t.Errorf("%s GET %s: its style block (%s) is not allowed by the CSP %q", who, path, h, csp)
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("only %d GET requests checked", checked)
	}
	// The console's pages, signed in.
	for _, path := range []string{"/admin/", "/admin/status"} {
		r := get(t, staff, base+path)
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || !strings.Contains(r.body, "<style>") {
			t.Errorf("GET %s as staff = %d %q", path, r.status, r.header.Get("Cache-Control"))
		}
	}
}
