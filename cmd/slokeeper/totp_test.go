package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// cliEnrol runs a command that enrols two-factor sign-in, typing before
// first and then, once the command has printed the secret, the code an
// authenticator app would show at clock's now. It returns the output,
// the exit status and the secret.
func cliEnrol(t *testing.T, env map[string]string, clock slokeeper.Clock, before string, args ...string) (string, string, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a command left waiting fails, not hangs
	defer cancel()
	outR, outW := io.Pipe()
	inR, inW := io.Pipe()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		code := runWith(ctx, args, func(k string) string { return env[k] }, io.MultiReader(strings.NewReader(before), inR), outW, &errb)
		outW.Close()
		done <- code
	}()
	var out strings.Builder
	var secret string
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if s, ok := strings.CutPrefix(line, "secret: "); ok {
			secret = s
			code, err := auth.TOTPCode(secret, clock.Now())
			if err != nil {
				t.Error(err)
			}
			go inW.Write([]byte(code + "\n"))
		}
	}
	code := <-done
	inW.Close()
	return out.String(), errb.String(), code, secret
}

// TestOperatorTOTPEnrolment: an admin adds an operator with the CLI; the
// operator signs in with the CLI, choosing a password, and enrols TOTP
// with it (secret, URL and QR code, then a code); the next sign-in needs
// a code. An admin resets it: the next sign-in says to enrol again, and
// every other API call and console page is refused until then; the
// operator enrols again from the login's offer, and everything works.
func TestOperatorTOTPEnrolment(t *testing.T) {
	cfg := testConfig()
	cfg.Data = t.TempDir()
	clock := newTestClock(time.Now().UTC().Truncate(time.Second))
	var console syncBuffer
	m := NewMain(cfg, &console)
	m.Clock = clock
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	base := m.HTTP.URL()
	admin := cliLogin(t, m, "alice", slokeeper.RoleAdmin)

	out, stderr, code := admin.run("operator", "add", "--name", "hana", "--role", "operator")
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if code != 0 || pw == nil {
		t.Fatalf("operator add = %d %q %q", code, out, stderr)
	}
	const hanaPW = "hana's own password 1"
	hana := cliPerson{t: t, name: "hana", env: map[string]string{"XDG_CONFIG_HOME": t.TempDir()}}
	login := func(input string) (string, string, int) {
		return cliEnv(t, hana.env, input, "login", "--server", base, "--name", "hana")
	}
	if out, stderr, code := login(pw[1] + "\n\n" + hanaPW + "\n" + hanaPW + "\n"); code != 0 || !strings.Contains(out, "as hana (operator)") {
		t.Fatalf("first login = %d %q %q", code, out, stderr)
	}
	if _, stderr, code := hana.run("operator", "totp", "alice"); code != 1 || !strings.Contains(stderr, "enrols yourself only") {
		t.Errorf("operator totp alice as hana = %d %q; want refused", code, stderr)
	}
	if _, stderr, code := cliEnv(t, map[string]string{}, "", "operator", "totp", "--data", cfg.Data); code != 1 || !strings.Contains(stderr, "slokeeper login") {
		t.Errorf("operator totp without a sign-in = %d %q; want told to sign in", code, stderr)
	}

	out, stderr, code, secret := cliEnrol(t, hana.env, clock, "", "operator", "totp")
	if code != 0 || secret == "" || !strings.Contains(out, "url:    otpauth://totp/") || !strings.Contains(out, "█") || !strings.Contains(out, "Two-factor sign-in is on") {
		t.Fatalf("operator totp = %d\n%s\n%s", code, out, stderr)
	}
	if _, stderr, code := hana.run("operator", "totp"); code != 1 || !strings.Contains(stderr, "既に有効") {
		t.Errorf("operator totp while enrolled = %d %q; want refused in ja/en", code, stderr)
	}

	// The next sign-in takes a code (the enrolment's step is spent).
	clock.Add(30 * time.Second)
	if _, stderr, code := login(hanaPW + "\n\n"); code != 1 || !strings.Contains(stderr, "The name, password or code is wrong.") {
		t.Errorf("login without a code after enrolment = %d %q; want refused", code, stderr)
	}
	totp, _ := auth.TOTPCode(secret, clock.Now())
	if out, stderr, code := login(hanaPW + "\n" + totp + "\n"); code != 0 || !strings.Contains(out, "as hana (operator)") {
		t.Fatalf("login with the code = %d %q %q", code, out, stderr)
	}

	if out, stderr, code := admin.run("operator", "totp-reset", "hana"); code != 0 {
		t.Fatalf("totp-reset = %d %q %q", code, out, stderr)
	}
	// The password alone signs in, to enrol and nothing else.
	if out, stderr, code := login(hanaPW + "\n\nn\n"); code != 0 || !strings.Contains(out, "as hana") ||
		!strings.Contains(stderr, "enrol again") || !strings.Contains(stderr, "登録し直して") || !strings.Contains(stderr, "[Y/n]") {
		t.Fatalf("login after the reset = %d %q %q; want signed in and told to enrol", code, out, stderr)
	}
	for _, args := range [][]string{{"whoami"}, {"grant", "list"}, {"operator", "list"}} {
		err := hana.err(args...)
		if !errors.As(err, new(totpEnrolRequired)) || slokeeper.ErrorCode(err) != slokeeper.EFORBIDDEN || !strings.Contains(err.Error(), "operator totp") {
			t.Errorf("%v before re-enrolment = %v; want refused, told to enrol", args, err)
		}
	}
	browser := newJarClient()
	if r := postJSON(t, browser, base+"/api/v1/auth/login", `{"name":"hana","password":"`+hanaPW+`"}`); r.status != 200 {
		t.Fatalf("browser sign-in after the reset = %d %s", r.status, r.body)
	}
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, path := range []string{"/admin/", "/admin/status", "/admin/logs", "/admin/grants", "/admin/accounts", "/admin/tokens",
		"/admin/audit", "/admin/operators", "/admin/lifecycle", "/admin/backups", "/admin/policy", "/admin/evidence"} {
		resp, err := browser.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/totp") {
			t.Errorf("GET %s before re-enrolment = %d → %q; want 303 → /admin/totp", path, resp.StatusCode, loc)
		}
	}
	if r := get(t, browser, base+"/admin/totp"); r.status != 200 || !strings.Contains(r.body, `id="totp-qr"`) {
		t.Errorf("/admin/totp before re-enrolment = %d", r.status)
	}

	// She takes the login's offer this time.
	clock.Add(30 * time.Second)
	out, stderr, code, secret2 := cliEnrol(t, hana.env, clock, hanaPW+"\n\ny\n", "login", "--server", base, "--name", "hana")
	if code != 0 || secret2 == "" || secret2 == secret || !strings.Contains(out, "Two-factor sign-in is on") {
		t.Fatalf("login with enrolment = %d\n%s\n%s", code, out, stderr)
	}
	if out, stderr, code := hana.run("whoami"); code != 0 || out != "hana (operator) on "+base+"\n" {
		t.Errorf("whoami after re-enrolment = %d %q %q", code, out, stderr)
	}
	if r := get(t, browser, base+"/admin/status"); r.status != 200 {
		t.Errorf("/admin/status after re-enrolment = %d", r.status)
	}
	clock.Add(30 * time.Second)
	if _, stderr, code := login(hanaPW + "\n\n"); code != 1 {
		t.Errorf("login without a code after re-enrolment = %d %q; want refused", code, stderr)
	}
	var enrolments int
	for _, e := range auditEntries(t, m) {
		if e.Action == "operator.totp" && e.Target == "operator:hana" && strings.HasPrefix(e.Actor, "operator:hana token:") {
			enrolments++
		}
	}
	if enrolments != 2 {
		t.Errorf("%d operator.totp entries by hana's token in the ledger, want 2", enrolments)
	}
}
