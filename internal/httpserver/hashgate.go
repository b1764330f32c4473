package httpserver

import (
	"context"
	"sync/atomic"
	"time"

	"slokeeper"

	"github.com/prometheus/client_golang/prometheus"
)

// hashGate bounds concurrent password hashing. Each argon2id run holds
// its memory (19 MiB with the OWASP parameters) while it runs, so without
// a bound N simultaneous sign-ins, for names that exist or not, cost N
// times that. At most size run at once; up to 4×size more wait, each for
// at most wait; past that a request is refused with 503 and Retry-After.
type hashGate struct {
	slots   chan struct{} // one per check running
	tickets chan struct{} // one per check running or waiting
	wait    time.Duration

	inFlight atomic.Int64
	peak     atomic.Int64

	checks, refused prometheus.Counter
	running, high   prometheus.GaugeFunc
}

// errHashBusy is the answer past the gate's queue.
var errHashBusy = slokeeper.Errorf(slokeeper.EUNAVAILABLE, "Too many sign-ins at once; try again in a second.")

func newHashGate(size int, wait time.Duration, reg prometheus.Registerer) *hashGate {
	g := &hashGate{slots: make(chan struct{}, size), tickets: make(chan struct{}, 5*size), wait: wait}
	g.checks = prometheus.NewCounter(prometheus.CounterOpts{Name: "slokeeper_password_checks_total",
		Help: "Password hashes computed (sign-ins, the dummy check for unknown names, password changes)."})
	g.refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "slokeeper_password_checks_refused_total",
		Help: "Sign-ins and password changes refused with 503 because the hashing queue was full."})
	g.running = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "slokeeper_password_checks_running",
		Help: "Password hashes being computed now."}, func() float64 { return float64(g.inFlight.Load()) })
	g.high = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "slokeeper_password_checks_peak",
		Help: "The most password hashes computed at once since the start."}, func() float64 { return float64(g.peak.Load()) })
	reg.MustRegister(g.checks, g.refused, g.running, g.high)
	return g
}

// do runs f, which computes password hashes, when a slot is free.
func (g *hashGate) do(ctx context.Context, f func() error) error {
	select {
	case g.tickets <- struct{}{}:
	default:
		g.refused.Inc()
		return errHashBusy
	}
	defer func() { <-g.tickets }()
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-timer.C:
		g.refused.Inc()
		return errHashBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.slots }()
	return f()
}

// hash marks one argon2id run inside do: counted, and the peak kept.
func (g *hashGate) hash(run func()) {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.checks.Inc()
	run()
}
