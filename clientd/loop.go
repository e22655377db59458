package clientd

import (
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/syncprint/syncprint/protocol"
)

// Start launches the background loop: it syncs at once, after local writes
// (debounced), when the server reports changes (long-poll on /v1/watch),
// on Trigger, and every SyncInterval. Failures back off exponentially with
// full jitter between MinBackoff and MaxBackoff, or as long as the server's
// Retry-After asks; a non-retryable error (for example unauthorized) stops
// the loop's attempts until the next local write or Trigger. An
// offline-only client starts no loop. Close stops it.
func (c *Client) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	if c.started {
		return ErrStarted
	}
	c.started = true
	if c.cfg.ServerURL == "" || c.cfg.Token == "" {
		return nil
	}
	c.wg.Add(1)
	go c.loop(c.closeCtx)
	if c.cfg.WatchTimeout > 0 {
		c.wg.Add(1)
		go c.watchLoop(c.closeCtx)
	}
	return nil
}

// Trigger asks the background loop to sync now, for example from the app's
// connectivity callback. It resets the backoff (a Retry-After still
// applies) and lifts a stop after a non-retryable error. Without Start it
// does nothing.
func (c *Client) Trigger() { notify(c.triggerCh) }

func (c *Client) setNextAttempt(t time.Time) {
	c.mu.Lock()
	c.nextAttempt = t
	c.mu.Unlock()
}

// loop is the background sync loop; it owns its timer and backoff state.
func (c *Client) loop(ctx context.Context) {
	defer c.wg.Done()
	var (
		failures     int
		halted       bool      // stopped by a non-retryable error
		backoffUntil time.Time // no sync before this after a failure (backoff or Retry-After)
		retryUntil   time.Time // no sync before this: the server's Retry-After, even on Trigger
		next         time.Time // scheduled attempt; zero: none
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	next = time.Now()
	schedule := func(t time.Time) {
		next = t
		timer.Reset(max(time.Until(t), 0))
		c.setNextAttempt(c.cfg.Now().Add(max(time.Until(t), 0)))
	}
	unschedule := func() {
		next = time.Time{}
		timer.Stop()
		c.setNextAttempt(time.Time{})
	}
	c.setNextAttempt(c.cfg.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.writeCh:
			halted = false
			t := later(time.Now().Add(c.cfg.Debounce), backoffUntil)
			if next.IsZero() || t.Before(next) {
				schedule(t)
			}
		case <-c.triggerCh:
			halted, failures, backoffUntil = false, 0, retryUntil
			schedule(later(time.Now(), retryUntil))
		case <-c.watchCh:
			if !halted {
				t := later(time.Now(), backoffUntil)
				if next.IsZero() || t.Before(next) {
					schedule(t)
				}
			}
		case <-timer.C:
			if halted || next.IsZero() {
				continue
			}
			_, err := c.Sync(ctx)
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				failures, backoffUntil, retryUntil = 0, time.Time{}, time.Time{}
				schedule(time.Now().Add(c.cfg.SyncInterval))
			case Retryable(err):
				failures++
				d := backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, failures)
				if ra := min(RetryAfter(err), maxRetryAfter); ra > 0 {
					retryUntil = time.Now().Add(ra)
					d = max(d, ra)
				}
				backoffUntil = time.Now().Add(d)
				c.cfg.Logger.Warn("sync failed; backing off", "err", err, "wait", d, "failures", failures)
				schedule(backoffUntil)
			default:
				halted = true
				c.cfg.Logger.Error("sync failed; waiting for a local write or Trigger", "err", err)
				unschedule()
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// watchLoop long-polls /v1/watch with the local cursors and wakes the loop
// when the server reports changes.
func (c *Client) watchLoop(ctx context.Context) {
	defer c.wg.Done()
	failures := 0
	for ctx.Err() == nil {
		c.mu.Lock()
		info, done := c.info, c.syncDone
		c.mu.Unlock()
		if info == nil { // wait for the first session to learn the server
			select {
			case <-ctx.Done():
				return
			case <-done:
			}
			continue
		}
		if !slices.Contains(info.Features, protocol.FeatureWatch) {
			c.cfg.Logger.Info("server does not offer watch; relying on periodic sync")
			return
		}
		cursors, err := c.cursors()
		if err != nil {
			return // closed
		}
		if maxIDs := info.Limits.MaxIDs; maxIDs > 0 && len(cursors) > maxIDs {
			c.cfg.Logger.Info("more collections than a watch may name; relying on periodic sync", "collections", len(cursors))
			return
		}
		timeout := c.cfg.WatchTimeout
		if wm := info.Limits.WatchMaxMillis; wm > 0 {
			timeout = min(timeout, time.Duration(wm)*time.Millisecond)
		}
		if ct := c.hc.Timeout; ct > 0 { // the app's http.Client must not cut the wait
			timeout = max(min(timeout, ct-5*time.Second), time.Second)
		}
		body, err := protocol.Marshal(&protocol.WatchRequest{Cursors: cursors, TimeoutMillis: int(timeout / time.Millisecond)})
		if err != nil {
			return
		}
		var resp protocol.WatchResponse
		// No idle limit: the server holds a long-poll without a byte.
		err = c.call(ctx, protocol.PathWatch, body, "", nil, &resp, timeout+30*time.Second, 0)
		if code := protocol.CodeOf(err); code == protocol.CodeCursorExpired || code == protocol.CodeInvalidCursor {
			// A sync resets the cursors; watch again after it.
			err, resp.Changed = nil, []string{"*"}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := max(backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, failures), min(RetryAfter(err), maxRetryAfter))
			c.cfg.Logger.Debug("watch failed", "err", err, "wait", d)
			if sleep(ctx, d) != nil {
				return
			}
			continue
		}
		failures = 0
		if len(resp.Changed) == 0 {
			continue
		}
		// Wait for the session that this notification starts (or the one
		// running now) to end before watching again with the new cursors.
		c.mu.Lock()
		done = c.syncDone
		for _, name := range resp.Changed {
			if _, ok := cursors[name]; ok && (c.news == "" || name < c.news) {
				c.news = name // "*" (pull everything) names none
			}
		}
		c.mu.Unlock()
		notify(c.watchCh)
		select {
		case <-ctx.Done():
			return
		case <-done:
		}
	}
}

// cursors returns the stored cursor of every local collection.
func (c *Client) cursors() (map[string]string, error) {
	out := map[string]string{}
	err := c.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bktColls).ForEachBucket(func(name []byte) error {
			out[string(name)] = string(tx.Bucket(bktColls).Bucket(name).Get(keyCursor))
			return nil
		})
	})
	return out, err
}
