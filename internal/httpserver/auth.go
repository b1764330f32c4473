package httpserver

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// Sign-in settings.
const (
	sessionCookie  = "slokeeper_session"
	sessionTTL     = 12 * time.Hour
	loginFailures  = 5                // failed sign-ins allowed per name or address...
	loginWindow    = 15 * time.Minute // ...within this window, before a lockout of the same length
	maxLoginBody   = 8 << 10
	operatorPrefix = "sko_" // API tokens; source tokens start with slk_
	sessionPrefix  = "sks_"
)

// Secrets seals and opens operators' TOTP secrets (keys.Manager).
type Secrets interface {
	SealSystem(plaintext, associatedData []byte) ([]byte, error)
	OpenSystem(ciphertext, associatedData []byte) ([]byte, error)
}

// principal is who a request acts as.
type principal struct {
	op    *slokeeper.Operator
	token *slokeeper.APIToken // nil for a browser session
}

// readOnly reports whether the principal may only read: an API token of
// the read scope.
func (p *principal) readOnly() bool { return p.token != nil && p.token.Scope != "write" }

// safeMethod reports whether an HTTP method only reads (RFC 9110 9.2.1).
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

func (p *principal) actor() string {
	if p.token != nil {
		return "operator:" + p.op.Name + " token:" + p.token.ID
	}
	return "operator:" + p.op.Name
}

// loginLimiter counts failed sign-ins per name and per address.
type loginLimiter struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

// locked reports whether key failed too often within the window at now.
func (l *loginLimiter) locked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.failures[key][:0]
	for _, t := range l.failures[key] {
		if now.Sub(t) < loginWindow {
			recent = append(recent, t)
		}
	}
	l.failures[key] = recent
	return len(recent) >= loginFailures
}

func (l *loginLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) > 100000 {
		clear(l.failures) // bound memory under a flood of names
	}
	l.failures[key] = append(l.failures[key], now)
}

func (l *loginLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

func remoteHost(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

var errSignIn = slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The name, password or code is wrong.")

// signIn checks credentials (password, then the TOTP code when the
// operator has one) and opens a session. Failures are counted per name and
// per address; every attempt is in the audit ledger, and without the
// ledger nobody signs in.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, req loginRequest) (*slokeeper.Operator, *slokeeper.Session, error) {
	ctx, now, host := r.Context(), s.Clock.Now(), remoteHost(r)
	if s.logins.locked("name:"+req.Name, now) || s.logins.locked("addr:"+host, now) {
		s.Audit(ctx, "anonymous@"+host, "login.locked", "operator:"+req.Name, "")
		return nil, nil, slokeeper.Errorf(slokeeper.ERATELIMITED, "Too many failed sign-ins; try again in %d minutes.", int(loginWindow.Minutes()))
	}
	op, err := s.checkCredentials(ctx, req, now)
	if err != nil {
		s.logins.fail("name:"+req.Name, now)
		s.logins.fail("addr:"+host, now)
		if aerr := s.Audit(ctx, "anonymous@"+host, "login.failed", "operator:"+req.Name, slokeeper.ErrorMessage(err)); aerr != nil {
			return nil, nil, aerr
		}
		return nil, nil, err
	}
	if err := s.Audit(ctx, "operator:"+op.Name+"@"+host, "login", "operator:"+op.Name, ""); err != nil {
		return nil, nil, err
	}
	s.logins.reset("name:" + req.Name)
	token := auth.NewToken(sessionPrefix)
	ses := &slokeeper.Session{TokenHash: slokeeper.HashToken(token), OperatorID: op.ID, CreatedAt: now, ExpiresAt: now.Add(sessionTTL)}
	if err := s.Operators.CreateSession(ctx, ses); err != nil {
		return nil, nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Expires: ses.ExpiresAt,
		HttpOnly: true, Secure: s.tls, SameSite: http.SameSiteStrictMode})
	return op, ses, nil
}

// handleLogin is the JSON sign-in: {"name", "password", "totp"}.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody)).Decode(&req); err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, `Send {"name", "password", "totp"} as JSON.`))
		return
	}
	op, ses, err := s.signIn(w, r, req)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"operator": op, "expires_at": ses.ExpiresAt})
}

func (s *Server) checkCredentials(ctx context.Context, req loginRequest, now time.Time) (*slokeeper.Operator, error) {
	ops, err := s.Operators.FindOperators(ctx, slokeeper.OperatorFilter{Name: req.Name})
	if err != nil {
		return nil, err
	}
	if len(ops) != 1 {
		// Spend the same time as a real check, so timing does not tell
		// which names exist.
		auth.CheckPassword(req.Password, dummyHash, auth.OWASP)
		return nil, errSignIn
	}
	op := ops[0]
	ok, rehash, err := auth.CheckPassword(req.Password, op.PasswordHash, auth.OWASP)
	if err != nil || !ok {
		return nil, errSignIn
	}
	if op.TOTPSecret != nil {
		secret, err := s.Secrets.OpenSystem(op.TOTPSecret, []byte("totp:"+op.ID))
		if err != nil {
			return nil, err
		}
		step, ok := auth.CheckTOTP(string(secret), req.TOTP, now)
		if !ok || step <= op.LastTOTPStep {
			return nil, errSignIn // wrong, or already used
		}
		if err := s.Operators.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{LastTOTPStep: &step}); err != nil {
			return nil, err
		}
	}
	if rehash {
		if h, err := auth.HashPassword(req.Password, auth.OWASP); err == nil {
			s.Operators.UpdateOperator(ctx, op.ID, slokeeper.OperatorUpdate{PasswordHash: &h})
		}
	}
	return op, nil
}

// dummyHash is checked against for unknown names.
var dummyHash, _ = auth.HashPassword("slokeeper timing guard", auth.OWASP)

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.handleLogoutCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// handleLogoutCookie ends the request's session and clears its cookie.
func (s *Server) handleLogoutCookie(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.Operators.DeleteSession(r.Context(), slokeeper.HashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.tls, SameSite: http.SameSiteStrictMode})
}

// authenticate finds the operator behind a request: a session cookie, or
// an API token as the bearer. It is the one place every operator's
// request goes through, API and console alike, so it is also where a
// read-scoped token is refused any method that is not safe, whatever
// the route.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	p, err := s.findPrincipal(r)
	if err != nil {
		return nil, err
	}
	if p.readOnly() && !safeMethod(r.Method) {
		return nil, slokeeper.Errorf(slokeeper.EFORBIDDEN, "This API token may only read.")
	}
	return p, nil
}

func (s *Server) findPrincipal(r *http.Request) (*principal, error) {
	ctx, now := r.Context(), s.Clock.Now()
	var opID string
	var tok *slokeeper.APIToken
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.HasPrefix(bearer, operatorPrefix) {
		t, err := s.Operators.FindAPIToken(ctx, slokeeper.HashToken(bearer), now)
		if err != nil {
			return nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The API token is not valid, has expired or was revoked.")
		}
		opID, tok = t.OperatorID, t
	} else if c, err := r.Cookie(sessionCookie); err == nil {
		ses, err := s.Operators.FindSession(ctx, slokeeper.HashToken(c.Value), now)
		if err != nil {
			return nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "Your session has ended; sign in again.")
		}
		opID = ses.OperatorID
	} else {
		return nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "Sign in, or send an API token as \"Authorization: Bearer sko_…\".")
	}
	ops, err := s.Operators.FindOperators(ctx, slokeeper.OperatorFilter{ID: opID})
	if err != nil {
		return nil, err
	}
	if len(ops) != 1 {
		return nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The operator is disabled.")
	}
	return &principal{op: ops[0], token: tok}, nil
}

// requireOperator lets a request through only for a signed-in operator
// with one of roles (authenticate refuses a read-scoped token anything
// but reading); an operator who must change their password may do
// nothing else first.
func (s *Server) requireOperator(roles []string, h func(http.ResponseWriter, *http.Request, *principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		switch {
		case p.op.MustChangePassword && r.URL.Path != "/api/v1/auth/password":
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EFORBIDDEN, "Change your password first: POST /api/v1/auth/password."))
			return
		case len(roles) > 0 && !containsRole(roles, p.op.Role):
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EFORBIDDEN, "This needs the role %s; you are %s.", strings.Join(roles, " or "), p.op.Role))
			return
		}
		h(w, r, p)
	}
}

func containsRole(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, map[string]any{"operator": p.op})
}

// handlePassword changes the signed-in operator's password.
func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request, p *principal) {
	var req struct {
		Old string `json:"old"`
		New string `json:"new"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody)).Decode(&req); err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, `Send {"old", "new"} as JSON.`))
		return
	}
	if err := s.changePassword(r, p, req.Old, req.New); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changePassword checks the old password and sets the new one (at least
// 12 characters), which also lifts must-change-password.
func (s *Server) changePassword(r *http.Request, p *principal, old, new string) error {
	if ok, _, _ := auth.CheckPassword(old, p.op.PasswordHash, auth.OWASP); !ok {
		return slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The current password is wrong.")
	}
	if len([]rune(new)) < 12 || new == old {
		return slokeeper.Errorf(slokeeper.EINVALID, "The new password must have at least 12 characters and differ from the old one.")
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.password", "operator:"+p.op.Name, ""); err != nil {
		return err
	}
	h, err := auth.HashPassword(new, auth.OWASP)
	if err != nil {
		return err
	}
	no := false
	return s.Operators.UpdateOperator(r.Context(), p.op.ID, slokeeper.OperatorUpdate{PasswordHash: &h, MustChangePassword: &no})
}
