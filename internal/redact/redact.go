// Package redact takes credentials out of text before it is logged or
// shown: the password of every URL (mqtt://user:secret@host becomes
// mqtt://user:xxxxx@host, as url.URL.Redacted writes it) and the value of
// password-like keys in connection strings (pgx's "password=secret", a
// query's "?password=secret"). Handler applies it to every log record, so
// no call site has to remember to.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
)

// Mask is what a credential is replaced with (url.URL.Redacted's).
const Mask = "xxxxx"

var (
	// scheme://user:password@ — the password ends at the first '@'.
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/@:]*):[^\s@]*?@`)
	// password=secret, password='sec ret', sslpassword=…, in key-value
	// connection strings and URL queries.
	keyValue = regexp.MustCompile(`(?i)\b((?:ssl)?password|passwd|pwd|secret|token)=('(?:[^'\\]|\\.)*'|[^\s&'"]*)`)
)

// String returns s with every URL password and password-like key's value
// masked. It leaves s alone when there is nothing to mask, and masking
// twice changes nothing.
func String(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}:"+Mask+"@")
	return keyValue.ReplaceAllString(s, "${1}="+Mask)
}

// Error is err's text, redacted.
func Error(err error) string { return String(err.Error()) }

// Handler is an slog.Handler that redacts the message and every string,
// error and Stringer attribute (a *url.URL included) before passing the
// record on.
type Handler struct{ next slog.Handler }

// NewHandler returns a Handler in front of next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled reports whether next handles the level.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle redacts r and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(Attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs and passes them on.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = Attr(a)
	}
	return &Handler{next: h.next.WithAttrs(red)}
}

// WithGroup passes the group on.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{next: h.next.WithGroup(name)} }

// Attr returns a with its value redacted: strings, errors and Stringers
// (as their text), groups member by member.
func Attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, m := range g {
			red[i] = Attr(m)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s := x.Error(); String(s) != s {
				return slog.String(a.Key, String(s))
			}
		case fmt.Stringer:
			return slog.String(a.Key, String(x.String()))
		case []byte:
			return slog.String(a.Key, String(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
