package main

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

const canary = "canaryPw7f3e"

// noCanary fails if the canary password is anywhere in what was written.
func noCanary(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, canary) {
		i := strings.Index(text, canary)
		t.Errorf("the password is in %s: …%s…", where, text[max(0, i-200):min(len(text), i+50)])
	}
}

// TestNoPasswordInLogsOrErrors sets a canary password in every URL that
// takes one, makes each fail (MQTT broker, mail server, S3 target and
// PostgreSQL unreachable), and looks for it in stderr, in the system logs
// slokeeper stores of itself, and in the errors it returns.
func TestNoPasswordInLogsOrErrors(t *testing.T) {
	t.Run("MQTTAndSMTPUnreachable", func(t *testing.T) {
		cfg := testConfig()
		cfg.Data = t.TempDir()
		mqttAddr, smtpAddr := closedPort(t), closedPort(t)
		cfg.MQTT = "mqtt://device:" + canary + "@" + mqttAddr
		cfg.SMTP = "smtp://notices@" + smtpAddr + "?from=status@example.jp"
		cfg.SMTPPassword = canary
		var stderr syncBuffer
		m := NewMain(cfg, &stderr)
		if err := m.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v\n%s", err, stderr.String())
		}
		// A subscription sends a confirmation: to a mail server that is not there.
		r := postForm(t, m.HTTP.URL()+"/subscribe?lang=en", url.Values{"email": {"someone@example.jp"}, "lang": {"en"}})
		if r.status != 200 {
			t.Fatalf("subscribe = %d %s", r.status, r.body)
		}
		_, mqttPort, _ := net.SplitHostPort(mqttAddr)
		_, smtpPort, _ := net.SplitHostPort(smtpAddr)
		waitFor(t, "the MQTT and SMTP failures in the log", func() bool {
			s := stderr.String()
			return strings.Contains(s, "mqtt: connect") && strings.Contains(s, ":"+mqttPort) && strings.Contains(s, ":"+smtpPort)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Fatal(err)
		}
		noCanary(t, "stderr", stderr.String())
		stored, errOut, code := cliRun(t, "logs", "query", "--data", cfg.Data, "--class", "system", "--limit", "0")
		if code != 0 || !strings.Contains(stored, ":"+mqttPort) {
			t.Fatalf("stored system logs (exit %d) hold no MQTT failure:\n%s%s", code, stored, errOut)
		}
		noCanary(t, "the stored system logs", stored)
	})
	t.Run("S3Unreachable", func(t *testing.T) {
		target := "s3://AKIDEXAMPLE:" + canary + "@" + closedPort(t) + "/backups?tls=false"
		_, errOut, code := cliRun(t, "backup", "run", "--data", t.TempDir(), "--backup-target", target)
		if code == 0 {
			t.Fatal("backup list with an unreachable target succeeded")
		}
		noCanary(t, "the error", errOut)
	})
	t.Run("PostgresUnreachable", func(t *testing.T) {
		for _, dsn := range []string{
			"postgres://app:" + canary + "@" + closedPort(t) + "/slokeeper?sslmode=disable",
			"postgres://app@" + closedPort(t) + "/slokeeper?sslmode=disable&password=" + canary,
		} {
			_, errOut, code := cliRun(t, "serve", "--data", t.TempDir(), "--db", dsn)
			if code == 0 {
				t.Fatal("serve with an unreachable database started")
			}
			noCanary(t, "the error", errOut)
			if !strings.Contains(errOut, "postgres") {
				t.Errorf("the error does not say what failed: %s", errOut)
			}
		}
	})
}
