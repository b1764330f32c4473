package httpserver

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"slokeeper"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.8.9.10:1": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8443": false, ":8080": false, "[::]:80": false, "192.168.1.10:80": false,
		"example.com:80": false, "garbage": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestLang(t *testing.T) {
	tests := []struct{ url, accept, want string }{
		{"/", "", "ja"},
		{"/", "en-US,en;q=0.9", "en"},
		{"/", "fr-FR, ja;q=0.8, en;q=0.5", "ja"},
		{"/?lang=en", "ja", "en"},
		{"/?lang=ja", "en", "ja"},
		{"/?lang=xx", "en", "en"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.url, nil)
		r.Header.Set("Accept-Language", tt.accept)
		if got := lang(r); got != tt.want {
			t.Errorf("lang(%s, %q) = %s, want %s", tt.url, tt.accept, got, tt.want)
		}
	}
}

func TestErrorHidesInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	w := httptest.NewRecorder()
	Error(w, httptest.NewRequest("GET", "/x", nil), logger, fmt.Errorf("query evidence: password=hunter2 connection refused"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(w.Body.String(), `"code": "internal"`) {
		t.Errorf("internal error response = %d %s", w.Code, w.Body.String())
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("internal error not logged: %s", logs.String())
	}

	w = httptest.NewRecorder()
	Error(w, httptest.NewRequest("GET", "/x", nil), logger, fmt.Errorf("wrapped: %w", slokeeper.Errorf(slokeeper.ECONFLICT, "Already there.")))
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "Already there.") {
		t.Errorf("domain error response = %d %s", w.Code, w.Body.String())
	}
}
