package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// signInLog writes failed sign-ins (and failed password changes) to the
// audit ledger without letting a flood of them grow it without bound:
// each entry is appended and fsynced, and the attempts need no account.
// Per (action, name, address) and window, the first failure is recorded
// at once, with its reason; the following failures and the attempts
// refused while the pair is locked are counted, and recorded as one
// summary entry when a lock starts, when the pair succeeds, when the
// window ends (checked each minute and at each attempt) and at shutdown.
// A summary that cannot be written is kept for the next try.
type signInLog struct {
	audit  func(ctx context.Context, actor, action, target, detail string) error
	logger *slog.Logger
	window time.Duration
	max    int // pairs kept; past it, failures are recorded one by one

	mu      sync.Mutex
	pending map[signInKey]*signInCount
}

type signInKey struct{ action, name, addr, actor string }

type signInCount struct {
	since, last     time.Time
	failed, refused int // not yet in the ledger
}

type signInEntry struct {
	key    signInKey
	action string
	detail string
	c      signInCount
}

// failure records a failed check. lockedUntil is set when this failure
// was the last one the window allows, which starts a lock. It fails only
// when the first failure of a window cannot be recorded: the caller then
// refuses the attempt, as every action the ledger cannot record is.
func (l *signInLog) failure(ctx context.Context, k signInKey, now time.Time, reason string, lockedUntil time.Time) error {
	l.mu.Lock()
	var due []signInEntry
	c := l.pending[k]
	if c != nil && now.Sub(c.since) >= l.window {
		due = append(due, l.summary(k, c, ""))
		delete(l.pending, k)
		c = nil
	}
	first := c == nil
	if first && len(l.pending) < l.max {
		l.pending[k] = &signInCount{since: now, last: now}
	} else if !first {
		c.failed++
		c.last = now
	}
	if !lockedUntil.IsZero() {
		if c = l.pending[k]; c != nil {
			due = append(due, l.summary(k, c, lockedUntil.UTC().Format(time.RFC3339)))
			*c = signInCount{since: now, last: now}
		}
	}
	l.mu.Unlock()
	if first {
		if err := l.audit(ctx, k.actor, k.action+".failed", "operator:"+k.name, reason); err != nil {
			return err
		}
	}
	l.write(ctx, due)
	return nil
}

// refusal counts an attempt refused while the pair is locked.
func (l *signInLog) refusal(ctx context.Context, k signInKey, now time.Time) {
	l.mu.Lock()
	c := l.pending[k]
	var due []signInEntry
	if c != nil && now.Sub(c.since) >= l.window {
		due = append(due, l.summary(k, c, ""))
		delete(l.pending, k)
		c = nil
	}
	if c == nil {
		if len(l.pending) >= l.max {
			l.mu.Unlock()
			l.write(ctx, append(due, signInEntry{key: k, action: k.action + ".refused", detail: "refused while locked", c: signInCount{refused: 1}}))
			return
		}
		c = &signInCount{since: now}
		l.pending[k] = c
	}
	c.refused++
	c.last = now
	l.mu.Unlock()
	l.write(ctx, due)
}

// success records what is pending for the pair before its success is.
func (l *signInLog) success(ctx context.Context, k signInKey) {
	l.mu.Lock()
	var due []signInEntry
	if c := l.pending[k]; c != nil {
		due = append(due, l.summary(k, c, ""))
		delete(l.pending, k)
	}
	l.mu.Unlock()
	l.write(ctx, due)
}

// flush records the summaries of the windows over at now; every one when
// now is zero (shutdown).
func (l *signInLog) flush(ctx context.Context, now time.Time) {
	l.mu.Lock()
	var due []signInEntry
	for k, c := range l.pending {
		if now.IsZero() || now.Sub(c.since) >= l.window {
			due = append(due, l.summary(k, c, ""))
			delete(l.pending, k)
		}
	}
	l.mu.Unlock()
	l.write(ctx, due)
}

// summary describes what is pending for k; lockedUntil, when set, says a
// lock starts. Called with mu held.
func (l *signInLog) summary(k signInKey, c *signInCount, lockedUntil string) signInEntry {
	e := signInEntry{key: k, action: k.action + ".failed", c: *c}
	e.detail = fmt.Sprintf("%d more failed, %d refused while locked, %s to %s", c.failed, c.refused,
		c.since.UTC().Format(time.RFC3339), c.last.UTC().Format(time.RFC3339))
	if lockedUntil != "" {
		e.action = k.action + ".locked"
		e.detail += "; locked until " + lockedUntil
	}
	return e
}

// write appends the entries; one that fails goes back to the pending
// counts, to be written later.
func (l *signInLog) write(ctx context.Context, due []signInEntry) {
	for _, e := range due {
		if e.c.failed == 0 && e.c.refused == 0 && e.action == e.key.action+".failed" {
			continue // nothing since the first failure, which is recorded
		}
		if err := l.audit(ctx, e.key.actor, e.action, "operator:"+e.key.name, e.detail); err != nil {
			l.logger.Error("record failed sign-ins; kept for the next try", "name", e.key.name, "addr", e.key.addr, "err", err)
			l.mu.Lock()
			c := l.pending[e.key]
			if c == nil {
				c = &signInCount{since: e.c.since}
				l.pending[e.key] = c
			}
			c.failed += e.c.failed
			c.refused += e.c.refused
			if e.c.since.Before(c.since) {
				c.since = e.c.since
			}
			if e.c.last.After(c.last) {
				c.last = e.c.last
			}
			l.mu.Unlock()
		}
	}
}
