package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"

	"slokeeper"
	"slokeeper/internal/httpserver"
)

const loginUsage = `Usage:
  slokeeper login --server URL [--name NAME] [--scope read|write] [--expires 168h]
  slokeeper logout
  slokeeper whoami

login signs you in to a slokeeper server with your password and, when you
have one, your TOTP code, both asked on the terminal without echo (or read
from standard input, one a line, when it is not a terminal). The server
gives a scoped, expiring API token, which is stored with the server's URL
in your configuration directory (credentials.json, mode 0600, in a 0700
directory; a file others can read is refused). A one-time password (the
first administrator's, a new or reset operator's) is replaced in the same
login: it asks for a new one twice. After an admin reset your two-factor
sign-in, login says you must enrol again (the server refuses all else
until then) and offers to do it at once, as slokeeper operator totp does.
logout revokes the token on
the server and deletes the file; whoami says who the token signs you in as.

Environment:
  SLOKEEPER_TOKEN    an API token to use instead of the stored one
  SLOKEEPER_SERVER   the server's URL, instead of the stored one
`

// credentials is what `slokeeper login` stores.
type credentials struct {
	Server    string    `json:"server"`
	Token     string    `json:"token"`
	TokenID   string    `json:"token_id"`
	Operator  string    `json:"operator"`
	ExpiresAt time.Time `json:"expires_at"`
}

// credentialsPath is where login stores its token: the user's
// configuration directory as os.UserConfigDir finds it (XDG_CONFIG_HOME,
// else ~/.config on Unix; ~/Library/Application Support on macOS;
// %AppData% on Windows), under slokeeper/, read through getenv so that an
// environment without a home (tests, services) has no stored sign-in.
func credentialsPath(getenv func(string) string) (string, error) {
	var dir string
	switch home := getenv("HOME"); {
	case runtime.GOOS == "windows":
		dir = getenv("AppData")
	case runtime.GOOS == "darwin" || runtime.GOOS == "ios":
		if home != "" {
			dir = filepath.Join(home, "Library", "Application Support")
		}
	default:
		dir = getenv("XDG_CONFIG_HOME")
		if dir == "" && home != "" {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir == "" || !filepath.IsAbs(dir) {
		return "", errNoConfigDir
	}
	return filepath.Join(dir, "slokeeper", "credentials.json"), nil
}

var errNoConfigDir = slokeeper.Errorf(slokeeper.EINVALID, "No configuration directory to keep the sign-in in: set HOME (or XDG_CONFIG_HOME), or use SLOKEEPER_TOKEN and SLOKEEPER_SERVER.")

var errNotLoggedIn = slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "You are not signed in: run slokeeper login --server URL (or set SLOKEEPER_TOKEN and SLOKEEPER_SERVER).")

// readCredentials reads the stored sign-in; nil, nil when there is none.
// Like ssh with a private key, it refuses a file that others may read or
// write.
func readCredentials(getenv func(string) string) (*credentials, error) {
	path, err := credentialsPath(getenv)
	if err == errNoConfigDir {
		return nil, nil // nowhere a sign-in could be stored
	} else if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "%s is not a regular file; delete it and run slokeeper login again.", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, slokeeper.Errorf(slokeeper.EFORBIDDEN, "%s may be read by others (mode %04o); it holds your API token, so it is not used: run chmod 600 %s, or slokeeper logout and login again.", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil || c.Token == "" {
		return nil, slokeeper.Errorf(slokeeper.EINVALID, "%s is not a sign-in slokeeper wrote; delete it and run slokeeper login again.", path)
	}
	return &c, nil
}

// writeCredentials stores c, readable by the user alone: the directory
// 0700, the file 0600, written whole under another name and renamed.
func writeCredentials(getenv func(string) string, c *credentials) (string, error) {
	path, err := credentialsPath(getenv)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

// cliSession is the server and token a command acts through:
// SLOKEEPER_SERVER and SLOKEEPER_TOKEN when set, else what login stored.
func cliSession(getenv func(string) string) (server, token string, err error) {
	server = strings.TrimRight(strings.TrimSpace(getenv("SLOKEEPER_SERVER")), "/")
	token = strings.TrimSpace(getenv("SLOKEEPER_TOKEN"))
	if server == "" || token == "" {
		c, err := readCredentials(getenv)
		if err != nil {
			return "", "", err
		}
		if c != nil {
			if server == "" {
				server = c.Server
			}
			if token == "" {
				token = c.Token
			}
		}
	}
	if server == "" || token == "" {
		return "", "", errNotLoggedIn
	}
	return server, token, nil
}

// cliServer is the server commands act through: SLOKEEPER_SERVER, else
// the one slokeeper login stored; "" when neither is there.
func cliServer(getenv func(string) string) (string, error) {
	if s := getenv("SLOKEEPER_SERVER"); s != "" {
		return s, nil
	}
	c, err := readCredentials(getenv)
	if err != nil || c == nil {
		return "", err
	}
	return c.Server, nil
}

// checkServerURL accepts an http(s) URL; plain HTTP only to a loopback
// address, since a password and a token travel over it.
func checkServerURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", slokeeper.Errorf(slokeeper.EINVALID, "--server %q is not a URL such as https://slo.example.com.", raw)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", slokeeper.Errorf(slokeeper.EINVALID, "--server %q is plain HTTP to another machine; your password would travel unencrypted. Use https://.", raw)
		}
	}
	return raw, nil
}

// apiClient calls a server's JSON API with an operator's token.
type apiClient struct {
	server, token string
	http          *http.Client
}

func newAPIClient(getenv func(string) string) (*apiClient, error) {
	server, token, err := cliSession(getenv)
	if err != nil {
		return nil, err
	}
	return &apiClient{server: server, token: token, http: &http.Client{Timeout: time.Minute}}, nil
}

// do sends in as JSON (when not nil) and decodes the answer into out
// (when not nil).
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	b, err := c.send(ctx, method, path, "application/json", body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not JSON: %w", method, path, err)
	}
	return nil
}

// raw sends body as it is and returns the answer's body.
func (c *apiClient) raw(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	return c.send(ctx, method, path, "application/octet-stream", body)
}

// maxAPIAnswer bounds what the CLI reads of one answer.
const maxAPIAnswer = 64 << 20

// send makes one request and returns the answer's body.
func (c *apiClient) send(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var out []byte
	err := c.stream(ctx, method, path, contentType, body, func(r io.Reader) error {
		var err error
		out, err = io.ReadAll(io.LimitReader(r, maxAPIAnswer))
		return err
	})
	return out, err
}

// stream makes one request and hands a successful answer's body to read.
// The server's errors come back as slokeeper errors with its message; a
// refused token says to sign in again.
func (c *apiClient) stream(ctx context.Context, method, path, contentType string, body []byte, read func(io.Reader) error) error {
	return c.streamHeader(ctx, method, path, contentType, body, func(_ http.Header, r io.Reader) error { return read(r) })
}

// streamHeader is stream whose read also gets the answer's header.
func (c *apiClient) streamHeader(ctx context.Context, method, path, contentType string, body []byte, read func(http.Header, io.Reader) error) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The server %s did not answer: %v", c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		if e.Error.Code == "" {
			return slokeeper.Errorf(slokeeper.EINTERNAL, "%s %s: HTTP %d", method, path, resp.StatusCode)
		}
		if resp.Header.Get(httpserver.PasswordChangeHeader) == "required" {
			return passwordChangeRequired{slokeeper.Errorf(e.Error.Code, "%s", e.Error.Message)}
		}
		if resp.Header.Get(httpserver.TOTPEnrolHeader) == "required" {
			return totpEnrolRequired{slokeeper.Errorf(e.Error.Code, "%s", enrolRequiredText)}
		}
		if resp.StatusCode == http.StatusUnauthorized && c.token != "" {
			return slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "%s Run slokeeper login --server %s to sign in again.", e.Error.Message, c.server)
		}
		return slokeeper.Errorf(e.Error.Code, "%s", e.Error.Message)
	}
	return read(resp.Header, resp.Body)
}

// prompter asks for secrets: on a terminal without echo, else one line
// each from the input.
type prompter struct {
	in     io.Reader
	lines  *bufio.Reader
	stderr io.Writer
}

// line asks for an answer that may be seen (a yes, a one-time code): one
// line of the input, echoed on a terminal.
func (p *prompter) line(ctx context.Context, label string) (string, error) {
	fmt.Fprint(p.stderr, label)
	if p.lines == nil {
		p.lines = bufio.NewReader(p.in)
	}
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1)
	go func() { s, err := p.lines.ReadString('\n'); done <- result{s, err} }()
	select {
	case r := <-done:
		if r.err != nil && (r.err != io.EOF || r.s == "") {
			if r.err == io.EOF {
				return "", nil
			}
			return "", r.err
		}
		return strings.TrimRight(r.s, "\r\n"), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (p *prompter) secret(ctx context.Context, label string) (string, error) {
	fmt.Fprint(p.stderr, label)
	if f, ok := p.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		state, err := term.GetState(fd)
		if err != nil {
			return "", err
		}
		type result struct {
			b   []byte
			err error
		}
		done := make(chan result, 1)
		go func() { b, err := term.ReadPassword(fd); done <- result{b, err} }()
		select {
		case r := <-done:
			fmt.Fprintln(p.stderr)
			return string(r.b), r.err
		case <-ctx.Done(): // Ctrl-C: echo back on before leaving
			term.Restore(fd, state)
			fmt.Fprintln(p.stderr)
			return "", ctx.Err()
		}
	}
	if p.lines == nil {
		p.lines = bufio.NewReader(p.in)
	}
	line, err := p.lines.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", nil
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runLogin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, loginUsage, "\nFlags:\n"); fs.PrintDefaults() }
	server := fs.String("server", getenv("SLOKEEPER_SERVER"), "the server's URL, such as https://slo.example.com")
	name := fs.String("name", getenv("USER"), "your operator name")
	scope := fs.String("scope", slokeeper.TokenScopeWrite, "the token's scope: read or write")
	expires := fs.Duration("expires", 0, "the token's lifetime, at most 720h (the server's default: 168h)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *server == "" || *name == "" {
		fmt.Fprintln(stderr, "login: --server and --name are required")
		fs.Usage()
		return errUsage
	}
	base, err := checkServerURL(*server)
	if err != nil {
		return err
	}
	p := &prompter{in: stdin, stderr: stderr}
	password, err := p.secret(ctx, "Password for "+*name+": ")
	if err != nil {
		return err
	}
	if password == "" {
		return slokeeper.Errorf(slokeeper.EINVALID, "No password given.")
	}
	code, err := p.secret(ctx, "TOTP code (empty if you have none): ")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	req := map[string]string{"name": *name, "password": password, "totp": strings.TrimSpace(code),
		"scope": *scope, "label": "cli " + *name + "@" + host}
	if *expires != 0 {
		req["expires"] = expires.String()
	}
	var resp struct {
		Token     string    `json:"token"`
		ID        string    `json:"id"`
		Scope     string    `json:"scope"`
		ExpiresAt time.Time `json:"expires_at"`
		Operator  struct {
			Name          string `json:"name"`
			Role          string `json:"role"`
			MustEnrolTOTP bool   `json:"must_enrol_totp"`
		} `json:"operator"`
	}
	c := &apiClient{server: base, http: &http.Client{Timeout: time.Minute}}
	err = c.do(ctx, http.MethodPost, "/api/v1/auth/tokens", req, &resp)
	if errors.As(err, new(passwordChangeRequired)) {
		// A one-time password: choose your own in the same sign-in. The
		// code just sent is spent, so a second factor takes the next one.
		if req["new_password"], err = newPassword(ctx, p); err != nil {
			return err
		}
		if req["totp"] != "" {
			if req["totp"], err = p.secret(ctx, "The next TOTP code: "); err != nil {
				return err
			}
			req["totp"] = strings.TrimSpace(req["totp"])
		}
		err = c.do(ctx, http.MethodPost, "/api/v1/auth/tokens", req, &resp)
	}
	if err != nil {
		return err
	}
	path, err := writeCredentials(getenv, &credentials{Server: base, Token: resp.Token, TokenID: resp.ID, Operator: resp.Operator.Name, ExpiresAt: resp.ExpiresAt})
	if err != nil {
		// The token is of no use unsaved: take it back.
		(&apiClient{server: base, token: resp.Token, http: c.http}).do(ctx, http.MethodDelete, "/api/v1/auth/token", nil, nil)
		return err
	}
	fmt.Fprintf(stdout, "Signed in to %s as %s (%s); token %s, %s scope, until %s, stored in %s\n",
		base, termSafe(resp.Operator.Name), termSafe(resp.Operator.Role), resp.ID, resp.Scope, resp.ExpiresAt.Format(time.RFC3339), path)
	if resp.Operator.MustEnrolTOTP {
		return offerEnrolment(ctx, &apiClient{server: base, token: resp.Token, http: c.http}, p, stdout)
	}
	return nil
}

func runLogout(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logout", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, loginUsage, "\nFlags:\n"); fs.PrintDefaults() }
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	revokeErr := c.do(ctx, http.MethodDelete, "/api/v1/auth/token", nil, nil)
	path, err := credentialsPath(getenv)
	if err == errNoConfigDir {
		path = ""
	} else if err != nil {
		return err
	}
	if path == "" {
		// only SLOKEEPER_TOKEN to revoke
	} else if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// A token the server no longer takes is as good as revoked.
	if revokeErr != nil && slokeeper.ErrorCode(revokeErr) != slokeeper.EUNAUTHORIZED {
		return fmt.Errorf("the stored sign-in is deleted, but the server did not revoke the token: %w", revokeErr)
	}
	fmt.Fprintf(stdout, "Signed out of %s.\n", c.server)
	return nil
}

func runWhoami(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, loginUsage, "\nFlags:\n"); fs.PrintDefaults() }
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	c, err := newAPIClient(getenv)
	if err != nil {
		return err
	}
	var me struct {
		Operator struct {
			Name string `json:"name"`
			Role string `json:"role"`
		} `json:"operator"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/auth/me", nil, &me); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s) on %s\n", termSafe(me.Operator.Name), termSafe(me.Operator.Role), c.server)
	return nil
}

// serverLocation is the time zone of the server's policy, in which its
// times are shown.
func serverLocation(ctx context.Context, c *apiClient) (*time.Location, error) {
	var pol struct {
		Service struct {
			TimeZone string `json:"timezone"`
		} `json:"service"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/policy", nil, &pol); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(pol.Service.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("the server's policy names the time zone %q: %w", pol.Service.TimeZone, err)
	}
	return loc, nil
}

// passwordChangeRequired is the server's refusal of a sign-in whose
// password must be changed first.
type passwordChangeRequired struct{ error }

func (e passwordChangeRequired) Unwrap() error { return e.error }

// newPassword asks for a new password twice, without echo.
func newPassword(ctx context.Context, p *prompter) (string, error) {
	fmt.Fprintln(p.stderr, "Your password is a one-time password: choose your own (at least 12 characters).")
	fmt.Fprintln(p.stderr, "一時パスワードです。新しいパスワード（12文字以上）を設定してください。")
	pw, err := p.secret(ctx, "New password: ")
	if err != nil {
		return "", err
	}
	again, err := p.secret(ctx, "New password again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", slokeeper.Errorf(slokeeper.EINVALID, "The two new passwords differ; nothing was changed.")
	}
	return pw, nil
}
