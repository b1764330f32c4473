// Package loggen generates realistic log traffic, deterministically from a
// seed: agent, device and cloud-runtime lines of varied size and level, a
// few noisy devices that send most of the lines, and timestamps that are
// late or come from clocks that are plainly wrong, as IoT clocks are.
// Tests, benchmarks and `slokeeper loadgen` use it.
package loggen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"slokeeper"
)

// Source is one simulated sender.
type Source struct {
	ID      string
	Account string
	Kind    string
	skew    time.Duration // how wrong its clock is
}

// Generator produces lines. It is not safe for concurrent use: give each
// goroutine its own, with its own seed.
type Generator struct {
	rng     *rand.Rand
	Sources []Source
	noisy   int // the first noisy sources send half of all lines
	now     time.Time
}

// New returns a generator with n sources (at least 1), seeded.
func New(seed uint64, n int) *Generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	g := &Generator{rng: rng, noisy: max(1, n/20), now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	kinds := []string{slokeeper.SourceDevice, slokeeper.SourceDevice, slokeeper.SourceAgent, slokeeper.SourceCloud}
	for i := range max(n, 1) {
		s := Source{ID: fmt.Sprintf("src_%05d", i), Account: fmt.Sprintf("acct-%03d", i%97), Kind: kinds[i%len(kinds)]}
		switch rng.IntN(50) {
		case 0:
			s.skew = -time.Duration(rng.IntN(24*365)) * time.Hour // a clock years behind
		case 1:
			s.skew = time.Duration(rng.IntN(600)) * time.Second // a few minutes ahead
		}
		g.Sources = append(g.Sources, s)
	}
	return g
}

// pick chooses a source: half the lines come from the noisy few.
func (g *Generator) pick() *Source {
	if g.rng.IntN(2) == 0 {
		return &g.Sources[g.rng.IntN(g.noisy)]
	}
	return &g.Sources[g.rng.IntN(len(g.Sources))]
}

var levels = []string{"info", "info", "info", "info", "info", "info", "info", "info", "debug", "warn", "error"}

var (
	flows   = []string{"temperature-monitor", "line-3-counter", "door-sensor", "energy-dashboard", "alert-mailer"}
	nodes   = []string{"function", "mqtt in", "http request", "change", "switch", "debug", "inject"}
	paths   = []string{"/api/v1/flows", "/api/v1/devices", "/api/v1/data", "/healthz", "/api/v1/deploy"}
	errors_ = []string{"ECONNREFUSED 10.0.3.12:1883", "TypeError: Cannot read properties of undefined (reading 'payload')", "ETIMEDOUT", "socket hang up", "ENOSPC: no space left on device"}
)

// Record returns the next record, as its sender would describe it (the
// store adds the receive time and the class).
func (g *Generator) Record() slokeeper.LogRecord {
	s := g.pick()
	g.now = g.now.Add(time.Duration(g.rng.IntN(2000)) * time.Microsecond)
	sent := g.now.Add(s.skew)
	if g.rng.IntN(100) == 0 {
		sent = sent.Add(-time.Duration(g.rng.IntN(6*3600)) * time.Second) // sent late, from a buffer
	}
	level := levels[g.rng.IntN(len(levels))]
	r := slokeeper.LogRecord{Account: s.Account, SourceKind: s.Kind, SourceID: s.ID, Level: level, SenderTime: sent}
	flow, node := flows[g.rng.IntN(len(flows))], nodes[g.rng.IntN(len(nodes))]
	switch s.Kind {
	case slokeeper.SourceDevice:
		switch {
		case level == "error":
			r.Message = fmt.Sprintf("sensor read failed: %s", errors_[g.rng.IntN(len(errors_))])
		default:
			r.Message = fmt.Sprintf("temperature=%.1f humidity=%d battery=%d rssi=%d", 15+g.rng.Float64()*15, 30+g.rng.IntN(50), g.rng.IntN(101), -40-g.rng.IntN(60))
		}
	case slokeeper.SourceAgent:
		switch g.rng.IntN(4) {
		case 0:
			r.Message = fmt.Sprintf("[%s] [%s:%s] msg.payload=%d", level, node, flow, g.rng.IntN(100000))
		case 1:
			r.Message = fmt.Sprintf("Deploying flow %s (rev %d)", flow, g.rng.IntN(400))
		case 2:
			r.Message = fmt.Sprintf("[%s] [%s:%s] %s", level, node, flow, errors_[g.rng.IntN(len(errors_))])
		default:
			r.Message = "Connected to broker: mqtt://broker.internal:1883"
		}
		if g.rng.IntN(3) == 0 {
			r.Attrs = []byte(`{"context":"node-red","flow":"` + flow + `"}`)
		}
	default:
		r.Message = fmt.Sprintf("%s %s %d %dms", []string{"GET", "POST", "PUT"}[g.rng.IntN(3)], paths[g.rng.IntN(len(paths))],
			[]int{200, 200, 200, 201, 204, 400, 404, 500}[g.rng.IntN(8)], 1+g.rng.IntN(900))
		r.Attrs = []byte(`{"runtime":"cloud-exec","instance":"i-` + strconv.Itoa(g.rng.IntN(64)) + `"}`)
	}
	if g.rng.IntN(25) == 0 { // now and then a long one: a stack trace
		r.Message += "\n    at Function.Module._load (node:internal/modules/cjs/loader:1104:12)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"
	}
	return r
}

// AppendNDJSON appends the next record as one NDJSON line, as a sender
// would post it.
func (g *Generator) AppendNDJSON(dst []byte) []byte {
	r := g.Record()
	dst = append(dst, `{"time":"`...)
	dst = r.SenderTime.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","level":"`...)
	dst = append(dst, r.Level...)
	dst = append(dst, `","message":`...)
	dst = strconv.AppendQuote(dst, r.Message)
	if r.Attrs != nil {
		dst = append(dst, `,"attrs":`...)
		dst = append(dst, r.Attrs...)
	}
	return append(dst, "}\n"...)
}
