package ingest

import (
	"math"
	"sync"
	"time"

	"slokeeper"
)

// RateLimiter is a token bucket per source: Rate lines a second, up to a
// second's worth at once. HTTP and MQTT share one, so a source has one
// rate whichever way its lines come in. It reads time from an injected
// clock.
type RateLimiter struct {
	rate    float64
	clock   slokeeper.Clock
	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket holds a source's tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the buckets kept: past it, full (idle) buckets are
// forgotten, which changes nothing for their sources.
const maxBuckets = 100000

// NewRateLimiter returns a limiter of rate lines a second per source; 0
// or less: no limit.
func NewRateLimiter(rate float64, clock slokeeper.Clock) *RateLimiter {
	if clock == nil {
		clock = slokeeper.SystemClock{}
	}
	return &RateLimiter{rate: rate, clock: clock, buckets: map[string]*bucket{}}
}

// Rate is the limit in lines a second; 0 or less: none.
func (l *RateLimiter) Rate() float64 { return l.rate }

// Take takes n tokens for key, or says how long until it could.
func (l *RateLimiter) Take(key string, n int) (ok bool, retryAfter time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k, ob := range l.buckets {
				if ob.tokens+now.Sub(ob.last).Seconds()*l.rate >= l.rate {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.rate, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.rate, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	need := float64(n)
	if need > l.rate {
		need = l.rate // a batch bigger than a second's worth waits for a full bucket
	}
	if b.tokens < need {
		return false, time.Duration((need - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens -= float64(n)
	return true, 0
}
