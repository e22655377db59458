package changelog

import (
	"fmt"
	"sync"
	"time"
)

// HLC is a hybrid logical clock timestamp: the upper 48 bits are
// milliseconds since the Unix epoch (UTC), the lower 16 bits a logical
// counter. Timestamps compare as unsigned integers.
type HLC uint64

// logicalBits is the width of the logical counter.
const logicalBits = 16

// NewHLC builds a timestamp from wall milliseconds and a logical counter.
func NewHLC(ms uint64, logical uint16) HLC { return HLC(ms<<logicalBits | uint64(logical)) }

// Millis returns the physical part: milliseconds since the Unix epoch.
func (h HLC) Millis() uint64 { return uint64(h) >> logicalBits }

// Logical returns the logical counter.
func (h HLC) Logical() uint16 { return uint16(h) }

// Time returns the physical part as a time.Time.
func (h HLC) Time() time.Time { return time.UnixMilli(int64(h.Millis())).UTC() }

// String formats the timestamp as RFC 3339 with milliseconds plus the counter.
func (h HLC) String() string {
	return fmt.Sprintf("%s+%d", h.Time().Format("2006-01-02T15:04:05.000Z"), h.Logical())
}

// Clock issues HLC timestamps. It is safe for concurrent use.
type Clock struct {
	now func() time.Time // injected wall clock; never nil after NewClock

	mu   sync.Mutex // guards last
	last HLC
}

// NewClock returns a clock reading wall time from now, or from time.Now if
// now is nil. Tests and simulations pass their own.
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Now returns a timestamp greater than every timestamp this clock has issued
// or observed.
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = next(c.last, wallHLC(c.now()))
	return c.last
}

// Observe folds a timestamp seen from another replica into the clock, so
// that later timestamps sort after it. Callers that accept timestamps from
// the network clamp them first (see the server's skew rule).
func (c *Clock) Observe(remote HLC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote > c.last {
		c.last = remote
	}
}

// Wall returns the current wall time of the clock as an HLC with a zero
// logical counter, without advancing the clock.
func (c *Clock) Wall() HLC { return wallHLC(c.now()) }

func wallHLC(t time.Time) HLC {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return NewHLC(uint64(ms), 0)
}

// next returns the smallest timestamp greater than last and not before wall.
func next(last, wall HLC) HLC {
	if wall > last {
		return wall
	}
	return last + 1
}
