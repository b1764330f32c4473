package httpserver

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"slokeeper"
	"slokeeper/internal/ingest"
)

// Ingestion defaults.
const (
	DefaultIngestRate = 50000 // lines per second per source
	sourceCacheTTL    = 10 * time.Second
)

// sourceAuth authenticates a log source by its bearer token. Lookups are
// cached for a few seconds: ingestion is the hot path, and a revocation
// takes effect within sourceCacheTTL.
type sourceAuth struct {
	sources slokeeper.SourceService
	clock   slokeeper.Clock
	mu      sync.Mutex
	cache   map[string]cachedSource
}

type cachedSource struct {
	src     *slokeeper.Source
	expires time.Time
}

func (a *sourceAuth) lookup(r *http.Request) (*slokeeper.Source, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "Send the source's token as \"Authorization: Bearer <token>\".")
	}
	hash := slokeeper.HashToken(token)
	now := a.clock.Now()
	a.mu.Lock()
	c, hit := a.cache[string(hash)]
	a.mu.Unlock()
	if hit && now.Before(c.expires) {
		return c.src, nil
	}
	src, err := a.sources.FindSourceByTokenHash(r.Context(), hash)
	if slokeeper.ErrorCode(err) == slokeeper.ENOTFOUND {
		return nil, slokeeper.Errorf(slokeeper.EUNAUTHORIZED, "The token is not valid, or its source was revoked.")
	} else if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) > 100000 {
		clear(a.cache) // bound memory against a flood of distinct tokens
	}
	a.cache[string(hash)] = cachedSource{src, now.Add(sourceCacheTTL)}
	a.mu.Unlock()
	return src, nil
}

// withSource bounds the ingest requests under way (MaxIngestInFlight),
// gives the body a minimum rate (IngestMinRate over IngestRateWindow) and
// authenticates the source; the handlers rate-limit its lines.
func (s *Server) withSource(h func(http.ResponseWriter, *http.Request, *slokeeper.Source)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.ingesting.acquire(w, r, s) {
			return
		}
		defer s.ingesting.release()
		r.Body = newMinRateBody(w, r, s.IngestMinRate, s.IngestRateWindow)
		src, err := s.auth.lookup(r)
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		h(w, r, src)
	}
}

func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, src *slokeeper.Source, lines int) bool {
	ok, wait := s.Rate.Take(src.ID, lines)
	if ok {
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]string{
		"code": slokeeper.ERATELIMITED, "message": fmt.Sprintf("Source %s is over its rate of %.0f lines a second; nothing was stored. Retry after %d s.", src.ID, s.Rate.Rate(), secs),
	}})
	return true
}

// bodyError maps a body that could not be read to a clear answer.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	var le *ingest.LimitError
	switch {
	case errors.As(err, &mbe):
		return slokeeper.Errorf(slokeeper.ETOOLARGE, "The request body is larger than %d bytes; nothing was stored. Send smaller batches.", limit)
	case errors.As(err, &le):
		return slokeeper.Errorf(slokeeper.ETOOLARGE, "The request was refused: %v; nothing was stored. Send smaller batches.", le)
	case errors.Is(err, errSlowBody):
		return slokeeper.Errorf(slokeeper.EINVALID, "The request body came too slowly; nothing was stored.")
	}
	return slokeeper.Errorf(slokeeper.EINVALID, "The request body could not be read: %v.", err)
}

// limits are the bounds of one ingest request.
func (s *Server) ingestLimits() ingest.Limits {
	return ingest.Limits{MaxLine: s.MaxLine, MaxDecoded: s.MaxDecoded, MaxRecords: s.MaxRecords}.WithDefaults()
}

// requestBody returns the request body, decompressed if it is gzip. It
// fails with *http.MaxBytesError past limit bytes on the wire, and with
// *ingest.LimitError past decoded bytes coming out of it: a small gzip
// body never becomes a large one in memory.
func requestBody(w http.ResponseWriter, r *http.Request, limit, decoded int64) (io.Reader, func(), error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.Header.Get("Content-Encoding") != "gzip" {
		return ingest.LimitReader(body, decoded), func() {}, nil
	}
	zr, err := gzip.NewReader(body)
	if err != nil {
		return nil, nil, slokeeper.Errorf(slokeeper.EINVALID, "The body is not gzip: %v.", err)
	}
	return ingest.LimitReader(zr, decoded), func() { zr.Close() }, nil
}

// handleLogsNDJSON takes NDJSON, one record per line, optionally gzipped.
// Good lines are stored, bad ones listed with their reason.
func (s *Server) handleLogsNDJSON(w http.ResponseWriter, r *http.Request, src *slokeeper.Source) {
	limit, lim := s.MaxBody, s.ingestLimits()
	body, closeBody, err := requestBody(w, r, limit, lim.MaxDecoded)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	defer closeBody()
	recs, rejects, err := ingest.ParseNDJSON(body, lim)
	if err != nil {
		Error(w, r, s.Logger, bodyError(err, limit))
		return
	}
	if rejects == nil {
		rejects = []ingest.Reject{}
	}
	if len(recs) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":    map[string]string{"code": slokeeper.EINVALID, "message": "No line could be stored."},
			"rejected": rejects,
		})
		return
	}
	key, err := idempotencyKey(r, src)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if s.rateLimited(w, r, src, len(recs)) {
		return
	}
	dup, err := s.Logs.AppendLogs(r.Context(), src.Class(), fill(recs, src), key)
	if err != nil {
		storeError(w, r, s.Logger, err)
		return
	}
	if dup {
		// Stored by an earlier request with this key: nothing added.
		writeJSON(w, http.StatusOK, map[string]any{"accepted": 0, "duplicate": true, "rejected": rejects})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accepted": len(recs), "rejected": rejects})
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// idempotencyKey returns the append key of a request that names one in
// its Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header),
// scoped to the source: a client that sends a batch again after an answer
// it did not get (a timeout, a 503 while the database fails over, whose
// commit may have landed) has it stored once, on whichever node it
// reaches, while the day's partition holds the key. No header: no key.
func idempotencyKey(r *http.Request, src *slokeeper.Source) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > maxIdempotencyKey {
		return "", slokeeper.Errorf(slokeeper.EINVALID, "The Idempotency-Key header is longer than %d bytes; nothing was stored.", maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", slokeeper.Errorf(slokeeper.EINVALID, "The Idempotency-Key header holds a character that is not printable ASCII; nothing was stored.")
		}
	}
	sum := sha256.Sum256([]byte("ndjson\x00" + src.ID + "\x00" + k))
	return hex.EncodeToString(sum[:]), nil
}

// handleOTLPLogs takes an OTLP/HTTP logs export, protobuf or JSON,
// optionally gzipped, so any OpenTelemetry Collector can ship to slokeeper
// (exporter otlphttp with an Authorization header). Records without a body
// are reported as OTLP partial success.
func (s *Server) handleOTLPLogs(w http.ResponseWriter, r *http.Request, src *slokeeper.Source) {
	limit, lim := s.MaxBody, s.ingestLimits()
	body, closeBody, err := requestBody(w, r, limit, lim.MaxDecoded)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	defer closeBody()
	b, err := ingest.ReadAll(body, lim.MaxDecoded)
	if err != nil {
		Error(w, r, s.Logger, bodyError(err, limit))
		return
	}
	ct := r.Header.Get("Content-Type")
	recs, rejected, err := ingest.ParseOTLP(b, ct, lim)
	if ingest.IsLimit(err) {
		Error(w, r, s.Logger, bodyError(err, limit))
		return
	}
	if err != nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "The OTLP request was refused: %v.", err))
		return
	}
	if len(recs) > 0 {
		if s.rateLimited(w, r, src, len(recs)) {
			return
		}
		if err := s.store(r, src, recs, ""); err != nil {
			storeError(w, r, s.Logger, err)
			return
		}
	}
	if strings.HasPrefix(ct, "application/json") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(ingest.OTLPResponse(ct, rejected, fmt.Sprintf("%d log records had no body or were too large", rejected)))
}

func fill(recs []slokeeper.LogRecord, src *slokeeper.Source) []slokeeper.LogRecord {
	for i := range recs {
		recs[i].Account, recs[i].SourceKind, recs[i].SourceID = src.Account, src.Kind, src.ID
	}
	return recs
}

// diskFullRetry is the Retry-After of a 507: a full disk takes an
// operator, not a moment, to clear.
const diskFullRetry = "60"

// unavailableRetry is the Retry-After of a 503 from the log store: the
// shared log database away (a restart, a failover) is back in seconds.
const unavailableRetry = "5"

// storeError answers a failed append: a full disk with 507 and
// Retry-After, the log store unavailable (its database unreachable) with
// 503 and Retry-After, anything else through Error.
func storeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	switch slokeeper.ErrorCode(err) {
	case slokeeper.EFULL:
		logger.Error("log store: the disk is full; ingest refused until space is freed", "err", err)
		w.Header().Set("Retry-After", diskFullRetry)
	case slokeeper.EUNAVAILABLE:
		logger.Warn("log store: unavailable; the request was not acknowledged", "err", err)
		w.Header().Set("Retry-After", unavailableRetry)
	}
	Error(w, r, logger, err)
}

func (s *Server) store(r *http.Request, src *slokeeper.Source, recs []slokeeper.LogRecord, key string) error {
	_, err := s.Logs.AppendLogs(r.Context(), src.Class(), fill(recs, src), key)
	return err
}

// handleLogsQuery streams matching records as NDJSON:
// ?class=&account=&source=&level=&from=&to=&q=&limit= (default 1000).
func (s *Server) handleLogsQuery(w http.ResponseWriter, r *http.Request, p *principal) {
	v := r.URL.Query()
	q := slokeeper.LogQuery{Class: v.Get("class"), Account: v.Get("account"), SourceID: v.Get("source"), Level: v.Get("level"), Contains: v.Get("q"), Limit: 1000}
	var err error
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(p.name); s != "" && err == nil {
			if *p.dst, err = time.Parse(time.RFC3339, s); err != nil {
				err = slokeeper.Errorf(slokeeper.EINVALID, "%s=%q is not an RFC 3339 time such as 2026-12-03T10:00:00+09:00.", p.name, s)
			}
		}
	}
	if l := v.Get("limit"); l != "" && err == nil {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 1000000 {
			err = slokeeper.Errorf(slokeeper.EINVALID, "limit=%q is not a whole number from 1 to 1000000.", l)
		}
	}
	if q.Class != "" && q.Class != slokeeper.LogClassSystem && q.Class != slokeeper.LogClassExec {
		err = slokeeper.Errorf(slokeeper.EINVALID, "class=%q is not system or exec.", q.Class)
	}
	if q.After = v.Get("after"); err == nil {
		_, _, err = q.ParseLogCursor()
	}
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	// Reading logs is reading customer data: recorded first, or refused.
	if err := s.Audit(r.Context(), p.actor(), "logs.query", "source:"+q.SourceID+" account:"+q.Account, r.URL.RawQuery); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if q.Limit > 0 && q.Limit <= maxLinkedPage {
		// A page small enough to hold: read one record more than asked
		// so that the Link header can say whether a next page exists.
		lq := q
		lq.Limit++
		var recs []slokeeper.LogRecord
		if err := s.Logs.QueryLogs(r.Context(), lq, func(rec *slokeeper.LogRecord) error { recs = append(recs, *rec); return nil }); err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		if len(recs) > q.Limit {
			recs = recs[:q.Limit]
			v.Set("after", q.LogCursor(recs[len(recs)-1].Pos))
			w.Header().Set("Link", "</api/v1/logs?"+v.Encode()+">; rel=\"next\"")
		}
		enc := json.NewEncoder(w)
		for i := range recs {
			if err := enc.Encode(&recs[i]); err != nil {
				return
			}
		}
		return
	}
	enc := json.NewEncoder(w)
	started := false
	err = s.Logs.QueryLogs(r.Context(), q, func(rec *slokeeper.LogRecord) error {
		started = true
		return enc.Encode(rec)
	})
	if err != nil && !started {
		Error(w, r, s.Logger, err)
	} else if err != nil {
		s.Logger.Error("log query failed mid-stream", "err", err)
	}
}

// maxLinkedPage is the largest limit whose page the API holds in memory to
// send a Link header with the next page's cursor (the store orders such a
// page, and the probe record after it, in O(limit) memory); a larger limit
// streams the records as they are read, with no Link, and today's open
// day in arrival order.
const maxLinkedPage = slokeeper.MaxLogPage

func (s *Server) handleLogPartitions(w http.ResponseWriter, r *http.Request, _ *principal) {
	ps, err := s.Logs.LogPartitions(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"partitions": ps})
}
