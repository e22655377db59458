package serverd

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per key (the token's hash): rate tokens per
// second, at most burst banked.
type limiter struct {
	rate, burst float64

	mu      sync.Mutex // guards buckets
	buckets map[[32]byte]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64) *limiter {
	return &limiter{rate: rate, burst: math.Max(1, 2*rate), buckets: map[[32]byte]*bucket{}}
}

// allow takes one token for key at now; when none is left it returns
// false and how long until one is.
func (l *limiter) allow(key [32]byte, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}
