package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/internal/auth"
)

// Sign-in settings.
const (
	sessionCookie  = "slokeeper_session"
	sessionTTL     = 12 * time.Hour
	maxLoginBody   = 8 << 10
	operatorPrefix = slokeeper.OperatorTokenPrefix // API tokens; source tokens start with slk_
	sessionPrefix  = "sks_"
)

// DefaultLoginLimits lock a (name, client address) pair after 5 failed
// sign-ins within 15 minutes: for 1 minute, doubled at each further
// lockout up to 15 minutes.
var DefaultLoginLimits = slokeeper.LoginLimits{Attempts: 5, Window: 15 * time.Minute, Lock: time.Minute, MaxLock: 15 * time.Minute}

// DefaultHashConcurrency is how many password hashes may run at once by
// default: two per CPU the process may use.
func DefaultHashConcurrency() int { return 2 * runtime.GOMAXPROCS(0) }

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

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

var errSignIn = slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The name, password or code is wrong.")

// attempt runs one check of an operator's secret for (name, client
// address), in this order: a slot of the hashing gate (503 past its
// queue); the attempt counted in the database, refused while the pair
// is locked (429), in one statement, so concurrent attempts cannot all
// pass; the check; then a failure into the ledger (aggregated, see
// signInLog) or the pair's count reset. action names the ledger entries
// ("login", "operator.password").
func (s *Server) attempt(w http.ResponseWriter, r *http.Request, action, name, actor string, check func(context.Context) error) error {
	ctx, host := r.Context(), remoteHost(r)
	key := signInKey{action: action, name: name, addr: host, actor: actor + "@" + host}
	err := s.hashes.do(ctx, func() error {
		now := s.Clock.Now()
		s.maybeFlushSignIns(ctx, now)
		a, err := s.Operators.ReserveLoginAttempt(ctx, name, host, now, s.LoginLimits)
		if err != nil {
			return err
		}
		if !a.Allowed {
			s.signIns.refusal(ctx, key, now)
			wait := a.LockedUntil.Sub(now)
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			return slokeeper.Errorf(slokeeper.ERATELIMITED, "Too many failed attempts from your address; try again in %s.", wait.Round(time.Second))
		}
		if err := check(ctx); err != nil {
			if slokeeper.ErrorCode(err) != slokeeper.EUNAUTHORIZED {
				return err
			}
			if aerr := s.signIns.failure(ctx, key, now, slokeeper.ErrorMessage(err), a.LockedUntil); aerr != nil {
				return aerr
			}
			return err
		}
		s.signIns.success(ctx, key)
		return s.Operators.ResetLoginAttempts(ctx, name, host)
	})
	if slokeeper.ErrorCode(err) == slokeeper.EUNAVAILABLE {
		w.Header().Set("Retry-After", "1")
	}
	return err
}

// maybeFlushSignIns records the failed sign-ins whose window is over, at
// most once a minute (of the injected clock).
func (s *Server) maybeFlushSignIns(ctx context.Context, now time.Time) {
	last := s.signInFlushed.Load()
	if now.UnixNano()-last < int64(time.Minute) || !s.signInFlushed.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	s.signIns.flush(ctx, now)
}

// signIn checks credentials (password, then the TOTP code when the
// operator has one) and opens a session. Attempts are counted per name
// and client address; attempts are in the audit ledger, and without the
// ledger nobody signs in.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, req loginRequest) (*slokeeper.Operator, *slokeeper.Session, error) {
	var op *slokeeper.Operator
	err := s.attempt(w, r, "login", req.Name, "anonymous", func(ctx context.Context) error {
		var err error
		op, err = s.checkCredentials(ctx, req, s.Clock.Now())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	ctx, now, host := r.Context(), s.Clock.Now(), remoteHost(r)
	if err := s.Audit(ctx, "operator:"+op.Name+"@"+host, "login", "operator:"+op.Name, ""); err != nil {
		return nil, nil, err
	}
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

// checkPassword is auth.CheckPassword counted by the hashing gate; the
// caller holds a slot (attempt).
func (s *Server) checkPassword(password, hash string) (ok, rehash bool, err error) {
	s.hashes.hash(func() { ok, rehash, err = auth.CheckPassword(password, hash, auth.OWASP) })
	return ok, rehash, err
}

// hashPassword is auth.HashPassword counted by the hashing gate.
func (s *Server) hashPassword(password string) (h string, err error) {
	s.hashes.hash(func() { h, err = auth.HashPassword(password, auth.OWASP) })
	return h, err
}

func (s *Server) checkCredentials(ctx context.Context, req loginRequest, now time.Time) (*slokeeper.Operator, error) {
	ops, err := s.Operators.FindOperators(ctx, slokeeper.OperatorFilter{Name: req.Name})
	if err != nil {
		return nil, err
	}
	if len(ops) != 1 {
		// Spend the same time as a real check, so timing does not tell
		// which names exist; under the same gate, so the memory it takes
		// is bounded alike.
		s.checkPassword(req.Password, dummyHash)
		return nil, errSignIn
	}
	op := ops[0]
	ok, rehash, err := s.checkPassword(req.Password, op.PasswordHash)
	if err != nil || !ok {
		return nil, errSignIn
	}
	if op.TOTPSecret != nil {
		secret, err := s.Secrets.OpenSystem(op.TOTPSecret, []byte("totp:"+op.ID))
		if err != nil {
			return nil, err
		}
		step, ok := auth.CheckTOTP(string(secret), req.TOTP, now)
		if !ok {
			return nil, errSignIn
		}
		// Burnt before it is accepted, in one conditional update: of
		// concurrent requests with one code, exactly one gets through.
		if err := s.Operators.BurnTOTPStep(ctx, op.ID, step); err != nil {
			if slokeeper.ErrorCode(err) == slokeeper.ECONFLICT {
				return nil, errSignIn // already used
			}
			return nil, err
		}
	}
	if rehash {
		if h, err := s.hashPassword(req.Password); err == nil {
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
	if p.token != nil {
		if err := p.token.Permits(!safeMethod(r.Method)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (s *Server) findPrincipal(r *http.Request) (*principal, error) {
	ctx, now := r.Context(), s.Clock.Now()
	var opID string
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.HasPrefix(bearer, operatorPrefix) {
		// The rule the command line's SLOKEEPER_TOKEN follows too.
		op, t, err := slokeeper.AuthenticateToken(ctx, s.Operators, bearer, now)
		if err != nil {
			return nil, err
		}
		return &principal{op: op, token: t}, nil
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
	return &principal{op: ops[0]}, nil
}

// errMustEnrol refuses an operator whose two-factor sign-in an admin
// reset anything but enrolling again.
var errMustEnrol = slokeeper.Errorf(slokeeper.EFORBIDDEN, "Your two-factor sign-in was reset: enrol again first (slokeeper operator totp, or /admin/totp in the console).")

// requireOperator lets a request through only for a signed-in operator
// with one of roles (authenticate refuses a read-scoped token anything
// but reading); an operator who must change their password may do
// nothing else first, and one who must enrol two-factor sign-in again
// nothing but enrol (signing out takes no requireOperator).
func (s *Server) requireOperator(roles []string, h func(http.ResponseWriter, *http.Request, *principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // for one reader, answer or error
		p, err := s.authenticate(r)
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		switch {
		case p.op.MustChangePassword && r.URL.Path != "/api/v1/auth/password":
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EFORBIDDEN, "Change your password first: POST /api/v1/auth/password."))
			return
		case p.op.MustEnrolTOTP && r.URL.Path != totpEnrolPath && r.URL.Path != totpConfirmPath:
			w.Header().Set(TOTPEnrolHeader, "required")
			Error(w, r, s.Logger, errMustEnrol)
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

// handleOperatorUnlock lifts a name's sign-in locks from every address:
// POST /api/v1/operators/{name}/unlock, for admins, audited.
func (s *Server) handleOperatorUnlock(w http.ResponseWriter, r *http.Request, p *principal) {
	name := r.PathValue("name")
	if err := s.Audit(r.Context(), p.actor(), "operator.unlock", "operator:"+name, ""); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	n, err := s.Operators.UnlockLogin(r.Context(), name, s.Clock.Now())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "locked_addresses": n})
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
	if err := s.changePassword(w, r, p, req.Old, req.New); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changePassword checks the old password and sets the new one (at least
// 12 characters), which also lifts must-change-password and ends the
// operator's other sessions (the one it came from stays). A wrong old
// password counts toward the lockout, like a failed sign-in, and is in
// the ledger.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *principal, old, new string) error {
	if len([]rune(new)) < 12 || new == old {
		return slokeeper.Errorf(slokeeper.EINVALID, "The new password must have at least 12 characters and differ from the old one.")
	}
	var h string
	err := s.attempt(w, r, "operator.password", p.op.Name, p.actor(), func(ctx context.Context) error {
		if ok, _, _ := s.checkPassword(old, p.op.PasswordHash); !ok {
			return slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The current password is wrong.")
		}
		var err error
		h, err = s.hashPassword(new)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.Audit(r.Context(), p.actor(), "operator.password", "operator:"+p.op.Name, ""); err != nil {
		return err
	}
	no := false
	if err := s.Operators.UpdateOperator(r.Context(), p.op.ID, slokeeper.OperatorUpdate{PasswordHash: &h, MustChangePassword: &no}); err != nil {
		return err
	}
	if c, err := r.Cookie(sessionCookie); err == nil && p.token == nil {
		return s.Operators.DeleteOtherSessions(r.Context(), p.op.ID, slokeeper.HashToken(c.Value))
	}
	return s.Operators.DeleteOperatorSessions(r.Context(), p.op.ID)
}
