// Package selflog stores slokeeper's own logs as system logs: an
// slog.Handler that passes every record on and also queues it for the log
// store, written in batches by one goroutine. Logging never waits for the
// store: when the queue is full, records are dropped from the store (not
// from the next handler) and counted.
package selflog

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"slokeeper"
)

// Handler is the teeing slog.Handler.
type Handler struct {
	next   slog.Handler
	sink   *sink
	prefix string      // group prefix for attributes added later
	attrs  []slog.Attr // attributes added with WithAttrs, already prefixed
}

type sink struct {
	logs    slokeeper.LogService
	source  string
	ch      chan slokeeper.LogRecord
	dropped atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	errLog  slog.Handler // where the sink reports its own failures: never itself
}

// New returns a Handler passing records to next and storing them in logs as
// system logs of source (e.g. "slokeeper/node-1"), at level and above.
// Close flushes and stops it.
func New(next slog.Handler, logs slokeeper.LogService, source string) *Handler {
	s := &sink{logs: logs, source: source, ch: make(chan slokeeper.LogRecord, 4096), stop: make(chan struct{}), done: make(chan struct{}), errLog: next}
	go s.run()
	return &Handler{next: next, sink: s}
}

// Enabled reports whether next handles the level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle passes r on and queues it for the store.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.next.Handle(ctx, r)
	attrs := map[string]any{}
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		attrs[h.prefix+a.Key] = value(a.Value)
		return true
	})
	rec := slokeeper.LogRecord{
		SourceKind: slokeeper.SourceApp, SourceID: h.sink.source,
		Level: strings.ToLower(r.Level.String()), Message: r.Message, SenderTime: r.Time.UTC(),
	}
	if len(attrs) > 0 {
		if b, jerr := json.Marshal(attrs); jerr == nil {
			rec.Attrs = b
		}
	}
	select {
	case h.sink.ch <- rec:
	default:
		h.sink.dropped.Add(1)
	}
	return err
}

func value(v slog.Value) any {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindGroup:
		m := map[string]any{}
		for _, a := range v.Group() {
			m[a.Key] = value(a.Value)
		}
		return m
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		return v.String()
	}
	return v.Any()
}

// WithAttrs returns a Handler adding attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.next = h.next.WithAttrs(attrs)
	h2.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		h2.attrs = append(h2.attrs, slog.Any(h.prefix+a.Key, value(a.Value)))
	}
	return &h2
}

// WithGroup returns a Handler nesting later attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.next = h.next.WithGroup(name)
	h2.prefix = h.prefix + name + "."
	return &h2
}

// Dropped returns how many records the store missed because its queue was full.
func (h *Handler) Dropped() int64 { return h.sink.dropped.Load() }

// Close stores what is queued and stops.
func (h *Handler) Close() {
	h.sink.once.Do(func() { close(h.sink.stop) })
	<-h.sink.done
}

func (s *sink) run() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var batch []slokeeper.LogRecord
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := s.logs.AppendLogs(ctx, slokeeper.LogClassSystem, batch, ""); err != nil {
			r := slog.NewRecord(time.Now(), slog.LevelWarn, "selflog: storing slokeeper's own logs failed", 0)
			r.AddAttrs(slog.Int("records", len(batch)), slog.String("err", err.Error()))
			s.errLog.Handle(ctx, r)
		}
		cancel()
		batch = nil
	}
	for {
		select {
		case rec := <-s.ch:
			batch = append(batch, rec)
			if len(batch) >= 1000 {
				flush()
			}
		case <-t.C:
			flush()
		case <-s.stop:
			for {
				select {
				case rec := <-s.ch:
					batch = append(batch, rec)
				default:
					flush()
					return
				}
			}
		}
	}
}
