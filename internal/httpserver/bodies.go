package httpserver

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"slokeeper"
)

// Defaults for how long a request body may take to arrive.
const (
	// DefaultBodyTimeout is how long a form or API body may take, whole.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultIngestMinRate and DefaultIngestRateWindow: an ingest body
	// must bring at least this many bytes a second, counted over each
	// window of this length (the first window included).
	DefaultIngestMinRate    = 1 << 10
	DefaultIngestRateWindow = 10 * time.Second
	// DefaultMaxIngestInFlight bounds the ingest requests being read,
	// parsed and stored at once; more are answered 503 with Retry-After.
	DefaultMaxIngestInFlight = 16
)

// errSlowBody is what reading a body returns once its deadline passed.
var errSlowBody = errors.New("the request body came too slowly")

// Read deadlines are network deadlines: they follow the wall clock (the
// connection's), never the injected one.

// bodyDeadline gives every request that has a body a fixed time to send
// it (BodyTimeout); ingest routes replace it with a minimum rate (see
// withSource). The deadline is lifted once the body is read, so a
// handler's slow work after it is never cut off.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(s.BodyTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline at the end of the
// body, and names a deadline that passed.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	return n, b.after(err)
}

func (b *deadlineBody) after(err error) error {
	switch {
	case err == io.EOF:
		b.once.Do(func() { b.rc.SetReadDeadline(time.Time{}) })
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errSlowBody
	}
	return err
}

// minRateBody reads an ingest body that must bring at least rate bytes a
// second: each window it must bring rate × window bytes, and every time it
// has, the deadline moves a window on.
type minRateBody struct {
	deadlineBody
	window  time.Duration
	perWin  int64
	counted int64
}

func newMinRateBody(w http.ResponseWriter, r *http.Request, rate int64, window time.Duration) io.ReadCloser {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(window)) != nil {
		return r.Body // a connection without deadlines (a test recorder)
	}
	return &minRateBody{deadlineBody: deadlineBody{ReadCloser: r.Body, rc: rc}, window: window, perWin: max(1, rate*int64(window)/int64(time.Second))}
}

func (b *minRateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.counted += int64(n); b.counted >= b.perWin {
		b.counted = 0
		b.rc.SetReadDeadline(time.Now().Add(b.window))
	}
	return n, b.after(err)
}

// inFlight bounds the ingest requests under way.
type inFlight chan struct{}

// acquire takes a slot, or answers 503 with Retry-After and returns false.
func (f inFlight) acquire(w http.ResponseWriter, r *http.Request, s *Server) bool {
	select {
	case f <- struct{}{}:
		return true
	default:
		w.Header().Set("Retry-After", "1")
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.EUNAVAILABLE, "The server is taking as many log requests as it can (%d at once); nothing was stored. Retry after 1 s.", cap(f)))
		return false
	}
}

func (f inFlight) release() { <-f }
