package slokeeper

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Outcomes of an action recorded as evidence.
const (
	OutcomeOK       = "ok"       // done, on time
	OutcomeLate     = "late"     // done, after its deadline
	OutcomeFailed   = "failed"   // attempted and failed; it will be retried
	OutcomeViolated = "violated" // a clause did not hold; Detail says why
)

// Evidence is one record of what an engine did, for which clause of the
// policy, when, against which deadline and with what outcome. The compliance
// report reads nothing but evidence.
type Evidence struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`                // when it happened, per the engine's clock
	Clause   string    `json:"clause"`            // policy clause ID, e.g. "data.system_logs"
	Action   string    `json:"action"`            // what was done, e.g. "backup", "self_check"
	Subject  string    `json:"subject,omitempty"` // what it was done to, e.g. "system/2026-11-24"
	Deadline time.Time `json:"deadline,omitzero"` // when it had to be done by; zero when none
	Outcome  string    `json:"outcome"`           // one of the Outcome constants
	Detail   string    `json:"detail,omitempty"`  // a sentence for a person
	Node     string    `json:"node,omitempty"`    // the slokeeper node that acted
	// Duration is how long the action took, where that is part of what
	// the clause promises (a restore drill is timed); zero when not
	// measured. Kept to the millisecond.
	Duration time.Duration `json:"duration_ms,omitzero"`
}

// MarshalJSON writes Duration as whole milliseconds ("duration_ms"), the
// unit people and the report read.
func (e Evidence) MarshalJSON() ([]byte, error) {
	type plain Evidence
	return json.Marshal(struct {
		plain
		Duration int64 `json:"duration_ms,omitempty"`
	}{plain(e), e.Duration.Milliseconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Evidence) UnmarshalJSON(b []byte) error {
	type plain Evidence
	var v struct {
		*plain
		Duration int64 `json:"duration_ms,omitempty"`
	}
	v.plain = (*plain)(e)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	e.Duration = time.Duration(v.Duration) * time.Millisecond
	return nil
}

// Validate reports whether e can be stored. It also truncates times to
// microseconds, the precision both storage engines keep.
func (e *Evidence) Validate() error {
	switch {
	case e.At.IsZero():
		return Errorf(EINVALID, "Evidence needs the time it happened.")
	case e.Clause == "":
		return Errorf(EINVALID, "Evidence needs the clause it is for.")
	case e.Action == "":
		return Errorf(EINVALID, "Evidence needs the action that was taken.")
	case e.Duration < 0:
		return Errorf(EINVALID, "Evidence duration %s is negative.", e.Duration)
	}
	switch e.Outcome {
	case OutcomeOK, OutcomeLate, OutcomeFailed, OutcomeViolated:
	default:
		return Errorf(EINVALID, "Evidence outcome %q is not one of ok, late, failed, violated.", e.Outcome)
	}
	e.At = e.At.Truncate(time.Microsecond)
	e.Deadline = e.Deadline.Truncate(time.Microsecond)
	e.Duration = e.Duration.Truncate(time.Millisecond)
	return nil
}

// EvidenceFilter selects evidence. Zero fields do not filter.
type EvidenceFilter struct {
	Clause  string
	Action  string
	Outcome string
	Subject string
	Since   time.Time // At >= Since
	Until   time.Time // At < Until

	Offset int
	Limit  int // 0 means no limit
}

// EvidenceService stores evidence. Evidence is append-only: there is no
// update and no delete.
type EvidenceService interface {
	// RecordEvidence validates e, stores it and sets e.ID.
	RecordEvidence(ctx context.Context, e *Evidence) error
	// FindEvidence returns the evidence matching f, oldest first, and the
	// number that match f ignoring Offset and Limit.
	FindEvidence(ctx context.Context, f EvidenceFilter) ([]*Evidence, int, error)
}

// evidenceTries is how many times RecordEvidenceRetrying tries.
const evidenceTries = 3

// RecordEvidenceRetrying records e in s, trying again at once (up to
// evidenceTries in all) when the store fails, not when e is invalid, and
// returns the last error. The tries ride out a busy database or a dropped
// connection; they do not wait, so nothing sleeps on the wall clock. A
// longer outage is the caller's to handle, and evidence is never dropped
// silently: a caller that gets an error fails its action visibly, so
// that its own loop (on its injected clock) does it again, or keeps the
// evidence owed in durable state and records it on a later pass. Engines
// record evidence through it, except where the action is a database write
// and the evidence goes in its transaction.
func RecordEvidenceRetrying(ctx context.Context, s EvidenceService, e *Evidence) error {
	var err error
	for range evidenceTries {
		if err = s.RecordEvidence(ctx, e); err == nil || ErrorCode(err) == EINVALID || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("record evidence of %s %s: %w", e.Action, e.Subject, err)
	}
	return nil
}
