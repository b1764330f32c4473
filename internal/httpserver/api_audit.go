package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"slokeeper"
)

// The API of the audit side: the ledger (browse, verify, export, sign a
// checkpoint) and the access review, for admins and auditors; the
// command line's audit and access commands go through it after
// slokeeper login. Only the checkpoint changes anything, and only an
// admin makes one.

// auditReaders read the ledger and the access review.
var auditReaders = []string{slokeeper.RoleAdmin, slokeeper.RoleAuditor}

func (s *Server) registerAuditRoutes(mux *routeMux) {
	mux.HandleFunc("GET /api/v1/audit", s.requireOperator(auditReaders, s.handleAuditIndex))
	mux.HandleFunc("GET /api/v1/audit/verify", s.requireOperator(auditReaders, s.handleAuditVerify))
	mux.HandleFunc("GET /api/v1/audit/export", s.requireOperator(auditReaders, s.handleAuditExport))
	mux.HandleFunc("POST /api/v1/audit/checkpoint", s.requireOperator([]string{slokeeper.RoleAdmin}, s.handleAuditCheckpoint))
	mux.HandleFunc("GET /api/v1/access-review", s.requireOperator(auditReaders, s.handleAccessReview))
}

// maxAuditPage bounds the entries one GET /api/v1/audit answers.
const maxAuditPage = 1000

// handleAuditIndex lists ledger entries: GET
// /api/v1/audit?from=SEQ&limit=N&actor=&action=&target= (from 1, limit
// 100 by default, at most 1000; the filters as the console's). next is
// the from of the following page, 0 when there is none.
func (s *Server) handleAuditIndex(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	from, limit := int64(1), 100
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "from=%q is not an entry's sequence number (1 or more).", v))
			return
		}
		from = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EINVALID, "limit=%q is not a whole number from 1 to %d.", v, maxAuditPage))
			return
		}
		limit = n
	}
	f := slokeeper.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target")}
	entries, next := []*slokeeper.AuditEntry{}, int64(0)
	err := s.AuditLog.EachAuditEntry(r.Context(), from, 0, func(e *slokeeper.AuditEntry) error {
		if !f.Match(e) {
			return nil
		}
		if len(entries) == limit {
			next = e.Seq
			return errPageFull
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next": next})
}

// handleAuditVerify verifies the ledger: GET /api/v1/audit/verify answers
// what was checked and the problems found (none when it holds).
func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request, _ *principal) {
	if s.VerifyAudit == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "This server cannot verify its ledger."))
		return
	}
	v, err := s.VerifyAudit(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if v.Problems == nil {
		v.Problems = []string{}
	}
	writeJSON(w, http.StatusOK, v)
}

// handleAuditExport streams the whole ledger as NDJSON, for auditors to
// check elsewhere: {"type":"verifier_key"} (this node's), every
// {"type":"entry"} with its hashes, then every {"type":"checkpoint"}. It
// is what slokeeper audit export writes from a data directory too.
func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request, _ *principal) {
	if s.AuditVerifierKey == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "This server cannot export its ledger."))
		return
	}
	key, err := s.AuditVerifierKey()
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := WriteAuditExport(r.Context(), w, key, s.AuditLog); err != nil {
		// The status line is gone: all that is left is to stop the stream
		// short, which the reader sees as a broken last line.
		s.Logger.Error("audit export failed mid-stream", "err", err)
	}
}

// handleAuditCheckpoint signs a checkpoint of the ledger now, for an
// admin: POST /api/v1/audit/checkpoint. The request is in the ledger
// first, so the checkpoint covers it.
func (s *Server) handleAuditCheckpoint(w http.ResponseWriter, r *http.Request, p *principal) {
	if s.CheckpointAudit == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "This server cannot sign checkpoints."))
		return
	}
	if err := s.Audit(r.Context(), p.actor(), "audit.checkpoint", "audit", "requested"); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	cp, err := s.CheckpointAudit(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"checkpoint": cp})
}

// handleAccessReview answers who holds which role and grant and what
// each grant was used for: GET /api/v1/access-review.
func (s *Server) handleAccessReview(w http.ResponseWriter, r *http.Request, _ *principal) {
	rev, err := slokeeper.ReviewAccess(r.Context(), s.Operators, s.Accounts, s.Grants, s.AuditLog, s.Clock.Now())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, rev)
}

// WriteAuditExport writes the ledger as NDJSON: the verifier key, every
// entry, every checkpoint, each line with its "type".
func WriteAuditExport(ctx context.Context, w io.Writer, verifierKey string, audit slokeeper.AuditStore) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(map[string]any{"type": "verifier_key", "key": verifierKey}); err != nil {
		return err
	}
	err := audit.EachAuditEntry(ctx, 1, 0, func(e *slokeeper.AuditEntry) error {
		return enc.Encode(struct {
			Type string `json:"type"`
			*slokeeper.AuditEntry
		}{"entry", e})
	})
	if err != nil {
		return err
	}
	cps, err := audit.FindAuditCheckpoints(ctx)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		if err := enc.Encode(struct {
			Type string `json:"type"`
			*slokeeper.AuditCheckpoint
		}{"checkpoint", cp}); err != nil {
			return err
		}
	}
	return nil
}
