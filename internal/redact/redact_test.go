package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"slokeeper/internal/redact"
)

func TestString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"mqtt://dev:s3cret@broker:1883", "mqtt://dev:xxxxx@broker:1883"},
		{`failed to connect to mqtt://dev:p%40ss@broker:1883: dial tcp: refused`, `failed to connect to mqtt://dev:xxxxx@broker:1883: dial tcp: refused`},
		{"postgres://app:pw@db:5432/slokeeper?sslmode=require", "postgres://app:xxxxx@db:5432/slokeeper?sslmode=require"},
		{"host=db user=app password=pw dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"host=db password='p w\\'x' dbname=x", "host=db password=xxxxx dbname=x"},
		{"postgres://db/x?user=app&password=pw&sslmode=disable", "postgres://db/x?user=app&password=xxxxx&sslmode=disable"},
		{"https://hook:tok@example.jp/h and s3://AKIA:wJal/rXU@s3:9000/b", "https://hook:xxxxx@example.jp/h and s3://AKIA:xxxxx@s3:9000/b"},
		{"smtp://user@mail:587?from=status@example.jp", "smtp://user@mail:587?from=status@example.jp"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
		{"nothing secret here", "nothing secret here"},
	} {
		if got := redact.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if twice := redact.String(redact.String(tt.in)); twice != tt.want {
			t.Errorf("String twice (%q) = %q", tt.in, twice)
		}
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil)))
	u, _ := url.Parse("mqtt://dev:canary1@broker")
	log.With("dsn", "password=canary2").WithGroup("g").Warn("connect to tls://a:canary3@h failed",
		"err", fmt.Errorf("dial: %w", errors.New("mqtt://a:canary4@h: refused")), "url", u,
		slog.Group("inner", "s", "smtps://u:canary5@m"), "plain", "kept")
	out := buf.String()
	if strings.Contains(out, "canary") {
		t.Errorf("a credential was logged: %s", out)
	}
	if !strings.Contains(out, `"plain":"kept"`) || !strings.Contains(out, "mqtt://dev:xxxxx@broker") {
		t.Errorf("the rest of the record was changed: %s", out)
	}
}
