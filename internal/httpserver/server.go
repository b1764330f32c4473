// Package httpserver is slokeeper's HTTP side: health, readiness and
// metrics endpoints, the JSON API under /api/v1/ and server-rendered pages.
// Handlers are straight-line: parse, call a service, render or hand the
// error to the one error writer.
package httpserver

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"slokeeper"
	"slokeeper/internal/ingest"
	"slokeeper/internal/monitor"
	"slokeeper/internal/schedule"
	"slokeeper/internal/vault"
	"slokeeper/policy"

	"github.com/prometheus/client_golang/prometheus"
)

//go:embed templates/*.html
var templateFS embed.FS

// Server serves slokeeper over HTTP or HTTPS.
type Server struct {
	// Addr is the listen address. Default: 127.0.0.1:8080.
	Addr string
	// TLSCert and TLSKey are PEM files; with both set the server speaks
	// HTTPS only, TLS 1.2 or newer.
	TLSCert, TLSKey string
	// InsecureHTTP allows plain HTTP on an address other machines can
	// reach (behind a TLS-terminating proxy). Loopback never needs it.
	InsecureHTTP bool

	Policy   *policy.Policy            // served at /api/v1/policy; required
	Evidence slokeeper.EvidenceService // required
	// Ready reports whether the node can serve: database reachable and
	// migrated. Required.
	Ready func(context.Context) error
	// Registry collects metrics served at /metrics; the server adds its
	// own. Required.
	Registry *prometheus.Registry
	Version  string
	Logger   *slog.Logger // default: slog.Default()

	Logs slokeeper.LogService // required
	// Audit records a sensitive action in the audit ledger; when it fails
	// the action is refused. Required.
	Audit func(ctx context.Context, actor, action, target, detail string) error
	// AuditLog is the ledger the console's audit pages read; VerifyAudit
	// checks it (hashes, signed checkpoints, the witness). Required for
	// /admin/audit; VerifyAudit nil: the page cannot verify.
	AuditLog    slokeeper.AuditStore
	VerifyAudit func(context.Context) (*AuditVerify, error)
	// CheckpointAudit signs a checkpoint of the ledger now (POST
	// /api/v1/audit/checkpoint); AuditVerifierKey is this node's verifier
	// key, the first line of an export. nil: the API cannot do either.
	CheckpointAudit  func(context.Context) (*slokeeper.AuditCheckpoint, error)
	AuditVerifierKey func() (string, error)
	// Accounts and Grants are read by the access review, Accounts also
	// by the rule that a log source belongs to an account that exists.
	// Required for /api/v1/access-review and POST /api/v1/sources.
	Accounts slokeeper.AccountService
	Grants   slokeeper.GrantService
	// Operators signs operators in. Required.
	Operators slokeeper.OperatorService
	// Secrets opens operators' TOTP secrets. Required.
	Secrets Secrets
	// Vault keeps the accounts' data. Required.
	Vault   *vault.Vault
	Sources slokeeper.SourceService // required
	// Nodes lists the cluster's nodes (GET /api/v1/nodes, the console's
	// alerts); nil: none. A node unseen for NodeTimeout (default 30s) is
	// not serving; NodeAlert returns the cluster's raised alert ("" none).
	Nodes       slokeeper.NodeService
	NodeTimeout time.Duration
	NodeAlert   func(context.Context) (string, error)
	// Monitor gives the components' status (GET /api/v1/status); nil: none.
	Monitor    *monitor.Monitor
	Components slokeeper.ComponentService // required
	Schedule   *schedule.Service          // maintenance windows; required
	Brand      Brand                      // the status page's name, logo and colour; optional
	Incidents  slokeeper.IncidentService  // required

	// Lifecycle gives the lifecycle plan and the backups (the API, the
	// console's /admin/lifecycle and /admin/backups); nil: none. Restore
	// requests are read from AuditLog.
	Lifecycle Lifecycle
	// Drills runs restore drills (POST /api/v1/backups/drills); nil:
	// neither drill route.
	Drills Driller

	// Subscriptions takes subscriptions to notices and the links in them;
	// nil: none. Notices lists subscribers for staff (required with it).
	Subscriptions Subscriptions
	Notices       slokeeper.NotificationService
	// EmailNotices shows the subscribe form: a mail server is configured.
	EmailNotices bool
	Node         string          // this node's name in evidence
	Clock        slokeeper.Clock // default: the system clock

	// SubscribeLimit is how many subscribe requests one client address
	// may make per SubscribeWindow (an hour). Default:
	// DefaultSubscribeLimit; negative: none.
	SubscribeLimit int
	// IngestRate is each source's limit in lines a second. Default:
	// DefaultIngestRate; negative: none.
	IngestRate float64
	// Rate is the per-source token bucket, shared with MQTT ingestion.
	// Default: a new one of IngestRate.
	Rate *ingest.RateLimiter
	// MaxLine and MaxBody bound one NDJSON line and one request body on
	// the wire. Defaults: 64 KiB and 8 MiB.
	MaxLine int
	MaxBody int64
	// MaxDecoded bounds the bytes an ingest body decodes (decompresses)
	// to, MaxRecords the records of one request. Defaults: 8 MiB and
	// 100,000 (ingest.DefaultMaxDecoded, ingest.DefaultMaxRecords).
	MaxDecoded int64
	MaxRecords int
	// BodyTimeout is how long a form or API request body may take to
	// arrive. Default: DefaultBodyTimeout (10 s).
	BodyTimeout time.Duration
	// IngestMinRate (bytes a second) and IngestRateWindow: an ingest body
	// slower than the rate over a window is cut off. Defaults: 1 KiB/s
	// over 10 s.
	IngestMinRate    int64
	IngestRateWindow time.Duration
	// MaxIngestInFlight bounds the ingest requests under way; more are
	// answered 503 with Retry-After. Default: DefaultMaxIngestInFlight (16).
	MaxIngestInFlight int
	// ReadHeaderTimeout and IdleTimeout are the http.Server's. Defaults:
	// 10 s and 2 min.
	ReadHeaderTimeout, IdleTimeout time.Duration

	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// for the client's address (sign-in lockouts, the ledger). Default:
	// none, the peer's address is the client's.
	TrustedProxies []netip.Prefix
	// HashConcurrency bounds the password hashes computed at once
	// (sign-ins, password changes). Default: DefaultHashConcurrency.
	HashConcurrency int
	// LoginLimits are the sign-in lockout rules. Default:
	// DefaultLoginLimits.
	LoginLimits slokeeper.LoginLimits
	// AgentManagerPrefix is the path the enebular-agent's agent-manager
	// calls (record-logs, device-state, notify-status, auth) are served
	// under: the path of the agentManagerBaseUrl agents are registered
	// with. Default: "" (https://HOST/record-logs).
	AgentManagerPrefix string

	ingesting     inFlight
	auth          *sourceAuth
	hashes        *hashGate
	signIns       *signInLog
	agentAuth     *agentAuthRequests
	signInFlushed atomic.Int64 // UnixNano of the last flush of failed sign-ins
	stopFlush     func()
	routes        []string // every pattern the mux has
	csp           string   // the Content-Security-Policy of every response
	logo          []byte   // Brand.Logo's file, served at /logo
	// subscribes counts subscribe requests per client address.
	subscribes *windowLimiter

	ln          net.Listener
	tls         bool
	srv         *http.Server
	pages       *template.Template
	statusCache pageCache
	lastGood    lastGood // what the public pages serve while the database is away
	done        chan error
}

// ErrPlainHTTPExposed is returned by Open for plain HTTP on a non-loopback
// address without InsecureHTTP.
var ErrPlainHTTPExposed = errors.New("plain HTTP off loopback")

// Open checks the configuration, binds the address and starts serving.
func (s *Server) Open() error {
	if s.Addr == "" {
		s.Addr = "127.0.0.1:8080"
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Clock == nil {
		s.Clock = slokeeper.SystemClock{}
	}
	if s.IngestRate == 0 {
		s.IngestRate = DefaultIngestRate
	}
	if s.MaxLine <= 0 {
		s.MaxLine = ingest.DefaultMaxLine
	}
	if s.MaxBody <= 0 {
		s.MaxBody = ingest.DefaultMaxBody
	}
	if s.BodyTimeout <= 0 {
		s.BodyTimeout = DefaultBodyTimeout
	}
	if s.IngestMinRate <= 0 {
		s.IngestMinRate = DefaultIngestMinRate
	}
	if s.IngestRateWindow <= 0 {
		s.IngestRateWindow = DefaultIngestRateWindow
	}
	if s.MaxIngestInFlight <= 0 {
		s.MaxIngestInFlight = DefaultMaxIngestInFlight
	}
	if s.ReadHeaderTimeout <= 0 {
		s.ReadHeaderTimeout = 10 * time.Second
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 2 * time.Minute
	}
	s.ingesting = make(inFlight, s.MaxIngestInFlight)
	s.auth = &sourceAuth{sources: s.Sources, clock: s.Clock, cache: map[string]cachedSource{}}
	if s.Rate == nil {
		s.Rate = ingest.NewRateLimiter(s.IngestRate, s.Clock)
	}
	if s.HashConcurrency <= 0 {
		s.HashConcurrency = DefaultHashConcurrency()
	}
	if s.LoginLimits.Attempts <= 0 {
		s.LoginLimits = DefaultLoginLimits
	}
	s.hashes = newHashGate(s.HashConcurrency, 2*time.Second, s.Registry)
	s.signIns = &signInLog{audit: s.Audit, logger: s.Logger, window: s.LoginLimits.Window, max: 10000, pending: map[signInKey]*signInCount{}}
	if s.SubscribeLimit == 0 {
		s.SubscribeLimit = DefaultSubscribeLimit
	}
	s.subscribes = &windowLimiter{limit: s.SubscribeLimit, window: SubscribeWindow}
	if err := CheckListen(s.Addr, s.TLSCert, s.TLSKey, s.InsecureHTTP); err != nil {
		return err
	}
	useTLS := s.TLSCert != ""
	s.tls = useTLS
	pages, err := template.New("").Funcs(pageFuncs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("parse templates: %w", err)
	}
	s.pages = pages
	if s.csp, err = contentSecurityPolicy(templateFS); err != nil {
		return err
	}
	if err := s.loadBrand(); err != nil {
		return err
	}
	s.srv = &http.Server{
		Handler:           s.bodyDeadline(s.handler(useTLS)),
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate %s and key %s: %w", s.TLSCert, s.TLSKey, err)
		}
		s.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	if useTLS {
		ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	s.ln = ln
	s.done = make(chan error, 1)
	s.stopFlush = s.startSignInFlush()
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return nil
}

// CheckListen checks a listen configuration before anything is opened:
// TLS needs both a certificate and a key, and plain HTTP is refused on an
// address other machines can reach unless insecureHTTP says a
// TLS-terminating proxy is in front.
func CheckListen(addr, tlsCert, tlsKey string, insecureHTTP bool) error {
	useTLS := tlsCert != "" || tlsKey != ""
	if useTLS && (tlsCert == "" || tlsKey == "") {
		return fmt.Errorf("TLS needs both a certificate (--tls-cert) and a key (--tls-key)")
	}
	if !useTLS && !insecureHTTP && !IsLoopback(addr) {
		return fmt.Errorf("%w: refusing to serve plain HTTP on %s, which other machines can reach: "+
			"give --tls-cert and --tls-key, or --insecure-http if a TLS-terminating proxy is in front", ErrPlainHTTPExposed, addr)
	}
	return nil
}

// URL returns the base URL the server answers on, e.g.
// "https://127.0.0.1:8443".
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Close stops accepting connections and waits, until ctx ends, for
// in-flight requests to finish.
func (s *Server) Close(ctx context.Context) error {
	if s.done == nil {
		return nil // never served
	}
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; err == nil {
		err = serveErr
	}
	s.stopFlush()
	s.signIns.flush(ctx, time.Time{})
	return err
}

// startSignInFlush records, each minute, the failed sign-ins whose window
// is over (by the injected clock) and prunes quiet sign-in counters,
// until the returned stop is called.
func (s *Server) startSignInFlush() (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				now := s.Clock.Now()
				s.signIns.flush(context.Background(), now)
				// A day without an attempt forgets a pair and its backoff.
				if err := s.Operators.PruneLoginAttempts(context.Background(), now.Add(-24*time.Hour)); err != nil {
					s.Logger.Error("prune sign-in attempts", "err", err)
				}
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// IsLoopback reports whether a listen address reaches only this machine.
// An empty host ("":8080) listens on every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
