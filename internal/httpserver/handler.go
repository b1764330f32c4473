package httpserver

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"slokeeper"
	"slokeeper/policy"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) handler(useTLS bool) http.Handler {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	defer func() { s.routes = mux.patterns }()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	mux.HandleFunc("GET /api/v1/policy", s.handlePolicy)
	mux.HandleFunc("GET /api/v1/evidence", s.requireOperator(nil, s.handleEvidenceIndex))
	mux.HandleFunc("GET /api/v1/reports", s.requireOperator(nil, s.handleReportIndex))
	mux.HandleFunc("GET /api/v1/status", s.handleStatus)
	mux.HandleFunc("GET /api/v1/nodes", s.requireOperator(nil, s.handleNodeIndex))
	mux.HandleFunc("GET /api/v1/components", s.requireOperator(nil, s.handleComponentIndex))
	mux.HandleFunc("GET /api/v1/maintenances", s.handleMaintenanceIndex)
	mux.HandleFunc("GET /api/v1/incidents", s.handleIncidentIndex)
	mux.HandleFunc("GET /feed.atom", s.handleFeed)
	mux.HandleFunc("POST /api/v1/incidents", s.requireOperator(incidentWriters, s.handleIncidentCreate))
	mux.HandleFunc("POST /api/v1/incidents/{id}/updates", s.requireOperator(incidentWriters, s.handleIncidentUpdate))
	mux.HandleFunc("PUT /api/v1/incidents/{id}/postmortem", s.requireOperator(incidentWriters, s.handleIncidentPostmortem))
	mux.HandleFunc("POST /api/v1/maintenances", s.requireOperator(statusEditors, s.handleMaintenanceCreate))
	mux.HandleFunc("POST /api/v1/maintenances/{id}/reschedule", s.requireOperator(statusEditors, s.handleMaintenanceReschedule))
	mux.HandleFunc("POST /api/v1/maintenances/{id}/cancel", s.requireOperator(statusEditors, s.handleMaintenanceCancel))
	mux.HandleFunc("PUT /api/v1/components/{id}", s.requireOperator(statusEditors, s.handleComponentPut))
	mux.HandleFunc("DELETE /api/v1/components/{id}", s.requireOperator(statusEditors, s.handleComponentDelete))
	mux.HandleFunc("POST /api/v1/logs", s.withSource(s.handleLogsNDJSON))
	mux.HandleFunc("POST /api/v1/agent/logs", s.withSource(s.handleAgentLogs))
	mux.HandleFunc("POST /v1/logs", s.withSource(s.handleOTLPLogs))
	s.agentManagerRoutes(mux)
	staff := []string{slokeeper.RoleAdmin, slokeeper.RoleOperator, slokeeper.RoleSupport}
	mux.HandleFunc("GET /api/v1/logs", s.requireOperator(staff, s.handleLogsQuery))
	mux.HandleFunc("GET /api/v1/logs/partitions", s.requireOperator(nil, s.handleLogPartitions))
	mux.HandleFunc("POST /api/v1/accounts", s.requireOperator(nil, s.handleAccountCreate))
	mux.HandleFunc("DELETE /api/v1/accounts/{id}", s.requireOperator(nil, s.handleAccountDelete))
	mux.HandleFunc("POST /api/v1/accounts/{id}/cancel-deletion", s.requireOperator(nil, s.handleAccountCancelDeletion))
	mux.HandleFunc("GET /api/v1/accounts/{id}/{kind}", s.requireOperator(nil, s.handleItemIndex))
	mux.HandleFunc("GET /api/v1/accounts/{id}/{kind}/{key}", s.requireOperator(nil, s.handleItemGet))
	mux.HandleFunc("PUT /api/v1/accounts/{id}/{kind}/{key}", s.requireOperator(nil, s.handleItemPut))
	mux.HandleFunc("GET /api/v1/grants", s.requireOperator(nil, s.handleGrantIndex))
	mux.HandleFunc("POST /api/v1/grants", s.requireOperator(nil, s.handleGrantCreate))
	mux.HandleFunc("POST /api/v1/grants/{id}/approve", s.requireOperator(nil, s.handleGrantApprove))
	mux.HandleFunc("POST /api/v1/grants/{id}/revoke", s.requireOperator(nil, s.handleGrantRevoke))
	mux.HandleFunc("POST /api/v1/auth/login", s.handleLogin)
	mux.HandleFunc("POST /api/v1/auth/logout", s.handleLogout)
	mux.HandleFunc("GET /api/v1/auth/me", s.requireOperator(nil, s.handleMe))
	s.registerCLIRoutes(mux)
	s.registerLifecycleRoutes(mux)
	s.registerDrillRoutes(mux)
	s.registerAuditRoutes(mux)
	s.registerObligationRoutes(mux)
	s.registerSourceRoutes(mux)
	mux.HandleFunc("POST /api/v1/auth/password", s.requireOperator(nil, s.handlePassword))
	mux.HandleFunc("POST /api/v1/operators/{name}/unlock", s.requireOperator([]string{slokeeper.RoleAdmin}, s.handleOperatorUnlock))
	mux.HandleFunc("GET /admin/login", s.handleAdminLoginForm)
	mux.HandleFunc("POST /admin/login", s.handleAdminLogin)
	mux.HandleFunc("POST /admin/logout", s.handleAdminLogout)
	mux.HandleFunc("POST /admin/password", s.handleAdminPassword)
	mux.HandleFunc("GET /admin/{$}", s.handleAdminHome)
	mux.HandleFunc("GET /admin/status", s.handleConsoleStatus)
	mux.HandleFunc("POST /admin/incidents", s.consoleAction(false, s.consoleIncidentCreate))
	mux.HandleFunc("POST /admin/incidents/{id}/updates", s.handleConsoleIncidentUpdate)
	mux.HandleFunc("GET /admin/incidents/{id}", s.handleConsoleIncident)
	mux.HandleFunc("POST /admin/incidents/{id}/postmortem", s.incidentAction(s.consoleIncidentPostmortem))
	mux.HandleFunc("GET /admin/components", s.handleConsoleComponentNew)
	mux.HandleFunc("POST /admin/components", s.componentAction(true, s.consoleComponentAdd))
	mux.HandleFunc("GET /admin/components/{id}", s.handleConsoleComponent)
	mux.HandleFunc("POST /admin/components/{id}", s.componentAction(false, s.consoleComponentSave))
	mux.HandleFunc("POST /admin/components/{id}/delete", s.handleConsoleComponentRemove)
	mux.HandleFunc("POST /admin/maintenances", s.consoleAction(true, s.consoleMaintenanceCreate))
	mux.HandleFunc("POST /admin/maintenances/{id}/cancel", s.consoleAction(true, s.consoleMaintenanceCancel))
	mux.HandleFunc("POST /admin/maintenances/{id}/reschedule", s.consoleAction(true, s.consoleMaintenanceReschedule))
	mux.HandleFunc("GET /admin/logs", s.handleConsoleLogs)
	mux.HandleFunc("GET /admin/logs.ndjson", s.handleConsoleLogsDownload)
	mux.HandleFunc("GET /admin/grants", s.handleConsoleGrants)
	mux.HandleFunc("GET /admin/operators", s.handleConsoleOperators)
	mux.HandleFunc("POST /admin/operators", s.operatorAction(s.consoleOperatorAdd))
	mux.HandleFunc("POST /admin/operators/{name}/role", s.operatorAction(s.consoleOperatorRole))
	mux.HandleFunc("POST /admin/operators/{name}/disable", s.operatorAction(s.consoleOperatorDisable))
	mux.HandleFunc("POST /admin/operators/{name}/unlock", s.operatorAction(s.consoleOperatorUnlock))
	mux.HandleFunc("POST /admin/operators/{name}/reset", s.operatorAction(s.consoleOperatorReset))
	mux.HandleFunc("POST /admin/operators/{name}/enable", s.operatorAction(s.consoleOperatorEnable))
	mux.HandleFunc("POST /admin/operators/{name}/totp-reset", s.operatorAction(s.consoleOperatorTOTPReset))
	mux.HandleFunc("POST /admin/operators/{name}/tokens/{id}/revoke", s.operatorAction(s.consoleOperatorTokenRevoke))
	mux.HandleFunc("GET /admin/totp", s.handleConsoleTOTP)
	mux.HandleFunc("GET /admin/tokens", s.handleConsoleTokens)
	mux.HandleFunc("POST /admin/tokens", s.handleConsoleTokenCreate)
	mux.HandleFunc("POST /admin/tokens/{id}/revoke", s.handleConsoleTokenRevoke)
	mux.HandleFunc("POST /admin/totp", s.handleConsoleTOTPConfirm)
	mux.HandleFunc("GET /admin/audit", s.handleConsoleAudit)
	mux.HandleFunc("GET /admin/audit.ndjson", s.handleConsoleAuditExport)
	mux.HandleFunc("GET /admin/evidence", s.handleConsoleEvidence)
	mux.HandleFunc("POST /admin/grants", s.grantAction(s.consoleGrantRequest))
	mux.HandleFunc("POST /admin/grants/{id}/approve", s.grantAction(s.consoleGrantApprove))
	mux.HandleFunc("POST /admin/grants/{id}/revoke", s.grantAction(s.consoleGrantRevoke))
	mux.HandleFunc("GET /admin/accounts", s.handleConsoleAccounts)
	mux.HandleFunc("POST /admin/accounts/{id}/delete", s.accountAction("deleting", s.consoleAccountDelete))
	mux.HandleFunc("POST /admin/accounts/{id}/cancel-deletion", s.accountAction("cancelled", s.consoleAccountCancel))
	mux.HandleFunc("GET /admin/accounts/{id}", s.handleConsoleAccountData)
	mux.HandleFunc("GET /admin/accounts/{id}/items/{kind}/{key}", s.handleConsoleAccountItem)
	mux.HandleFunc("/admin/", s.handleConsoleNotFound)
	if s.Subscriptions != nil {
		mux.HandleFunc("POST /subscribe", s.handleSubscribe)
		mux.HandleFunc("GET /subscribe/confirm", s.handleConfirmForm)
		mux.HandleFunc("POST /subscribe/confirm", s.handleConfirm)
		mux.HandleFunc("GET /unsubscribe", s.handleUnsubscribeForm)
		mux.HandleFunc("POST /unsubscribe", s.handleUnsubscribe)
		mux.HandleFunc("GET /api/v1/subscribers", s.requireOperator(staff, s.handleSubscriberIndex))
		mux.HandleFunc("POST /api/v1/subscribers", s.requireOperator(statusEditors, s.handleWebhookCreate))
		mux.HandleFunc("DELETE /api/v1/subscribers/{id}", s.requireOperator(statusEditors, s.handleSubscriberDelete))
		mux.HandleFunc("POST /admin/subscribers", s.consoleActionSecret(true, s.consoleWebhookAdd))
		mux.HandleFunc("POST /admin/subscribers/{id}/delete", s.consoleAction(true, s.consoleSubscriberRemove))
	}
	mux.HandleFunc("GET /{$}", s.handleIndex)
	mux.HandleFunc("GET /incidents/{id}", s.handleIncidentPage)
	mux.HandleFunc("GET /history", s.handleHistory)
	mux.HandleFunc("GET /brand.css", s.handleBrandCSS)
	mux.HandleFunc("GET /logo", s.handleLogo)
	mux.HandleFunc("GET /maintenance/{id}", s.handleMaintenancePage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "No such page: %s %s.", r.Method, r.URL.Path))
	})
	csrf := http.NewCrossOriginProtection()
	// RFC 8058: a mail client unsubscribes with a POST from anywhere; the
	// link's token, not the origin, authorizes it.
	csrf.AddInsecureBypassPattern("POST /unsubscribe")
	// withClientAddr is outermost: its request (with the client's address
	// in its context) is the one the mux sets the pattern on, which
	// instrument reads.
	return s.withClientAddr(s.instrument(securityHeaders(csrf.Handler(mux), useTLS, s.csp)))
}

// securityHeaders sets the headers every response carries: the content
// security policy (csp: no script, no framing), and no-store on every
// answer for one reader, which is any answer under /admin/ and any
// answer to a request carrying credentials (a session cookie or an
// Authorization header); handlers may loosen it for public data.
func securityHeaders(next http.Handler, useTLS bool, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		if useTLS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if strings.HasPrefix(r.URL.Path, "/admin/") || r.Header.Get("Authorization") != "" || hasCookie(r, sessionCookie) {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts, times and logs every request and turns a panic into a
// 500 instead of a dropped connection.
func (s *Server) instrument(next http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slokeeper_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "slokeeper_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
	}, []string{"route"})
	s.Registry.MustRegister(requests, duration)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				if sw.status == 0 {
					Error(sw, r, s.Logger, slokeeper.Errorf(slokeeper.EINTERNAL, "Internal error."))
				}
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched" // keeps label cardinality bounded
			}
			elapsed := time.Since(start)
			requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
			duration.WithLabelValues(route).Observe(elapsed.Seconds())
			s.Logger.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", elapsed)
		}()
		next.ServeHTTP(sw, r)
	})
}

// Error writes err as {"error":{"code","message"}} with the status its
// code maps to. Internal errors are logged and never shown to the client.
func Error(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code, message := slokeeper.ErrorCode(err), slokeeper.ErrorMessage(err)
	if code == slokeeper.EINTERNAL {
		logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, statusOf(code), map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func statusOf(code string) int {
	switch code {
	case slokeeper.EINVALID:
		return http.StatusBadRequest
	case slokeeper.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case slokeeper.EFORBIDDEN:
		return http.StatusForbidden
	case slokeeper.ENOTFOUND:
		return http.StatusNotFound
	case slokeeper.ECONFLICT:
		return http.StatusConflict
	case slokeeper.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case slokeeper.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case slokeeper.ERATELIMITED:
		return http.StatusTooManyRequests
	case slokeeper.EFULL:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		if slokeeper.ErrorCode(err) == slokeeper.EINTERNAL {
			err = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "Not ready.")
		}
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) handlePolicy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	policy.WriteJSON(w, s.Policy)
}

// handleEvidenceIndex lists evidence:
// ?clause=&action=&outcome=&since=RFC3339&until=RFC3339&offset=&limit=
// (limit defaults to 100, at most 1000), for staff only: it names
// customers' accounts, deletions and backups.
func (s *Server) handleEvidenceIndex(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	f := slokeeper.EvidenceFilter{Clause: q.Get("clause"), Action: q.Get("action"), Outcome: q.Get("outcome"), Limit: 100}
	var err error
	parseTime := func(name string, dst *time.Time) {
		if v := q.Get(name); v != "" && err == nil {
			if *dst, err = time.Parse(time.RFC3339, v); err != nil {
				err = slokeeper.Errorf(slokeeper.EINVALID, "%s=%q is not an RFC 3339 time such as 2026-12-03T10:00:00+09:00.", name, v)
			}
		}
	}
	parseInt := func(name string, dst *int, limit int) {
		if v := q.Get(name); v != "" && err == nil {
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 || n > limit {
				err = slokeeper.Errorf(slokeeper.EINVALID, "%s=%q is not a whole number from 0 to %d.", name, v, limit)
			}
			*dst = n
		}
	}
	parseTime("since", &f.Since)
	parseTime("until", &f.Until)
	parseInt("offset", &f.Offset, 1<<31-1)
	parseInt("limit", &f.Limit, 1000)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	es, n, err := s.Evidence.FindEvidence(r.Context(), f)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if es == nil {
		es = []*slokeeper.Evidence{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"evidence": es, "n": n})
}
