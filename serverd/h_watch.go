package serverd

import (
	"context"
	"sort"
	"time"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// handleWatch answers POST /v1/watch, the long-poll: at once when a named
// collection moved past its cursor or an unnamed collection holds items,
// else when one changes, the timeout passes or the server shuts down.
func (s *Server) handleWatch(c *call) (any, error) {
	var req protocol.WatchRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if len(req.Cursors) > s.cfg.Limits.MaxIDs {
		return nil, protocol.Errorf(protocol.CodeTooManyItems, "%d cursors, max_ids is %d", len(req.Cursors), s.cfg.Limits.MaxIDs)
	}
	after := make(map[string]changelog.Seq, len(req.Cursors))
	names := make([]string, 0, len(req.Cursors))
	for coll := range req.Cursors {
		names = append(names, coll)
	}
	sort.Strings(names) // validate in a stable order
	var heads map[string]changelog.Seq
	if len(names) > 0 {
		var err error
		if heads, err = s.heads(c.user); err != nil {
			return nil, err
		}
	}
	for _, coll := range names {
		cur := req.Cursors[coll]
		if err := protocol.ValidateCollection(coll); err != nil {
			return nil, err
		}
		v, err := s.cursors.parse(c.user, coll, cur)
		if err != nil {
			return nil, err
		}
		if v > heads[coll] {
			return nil, errCursorAhead(v, heads[coll])
		}
		after[coll] = v
	}
	timeout := req.TimeoutMillis
	if timeout < 0 { // the codec refuses these
		return nil, protocol.Errorf(protocol.CodeMalformed, "timeout_ms %d is out of range", timeout)
	}
	if timeout == 0 {
		timeout = protocol.DefaultWatchMillis
	}
	timeout = min(timeout, s.cfg.Limits.WatchMaxMillis)
	timer := time.NewTimer(time.Duration(timeout) * time.Millisecond)
	defer timer.Stop()
	for {
		wake := s.hub.wait(c.user)
		changed, err := s.changedSince(c.user, after)
		if err != nil {
			return nil, err
		}
		if len(changed) > 0 {
			return &protocol.WatchResponse{Changed: changed}, nil
		}
		s.watching.Add(1)
		select {
		case <-wake:
			s.watching.Add(-1)
		case <-timer.C:
			s.watching.Add(-1)
			return &protocol.WatchResponse{Changed: []string{}}, nil
		case <-s.quit:
			s.watching.Add(-1)
			return &protocol.WatchResponse{Changed: []string{}}, nil
		}
	}
}

// changedSince lists, by name, the user's collections past the given
// versions and those holding items that are not named.
func (s *Server) changedSince(user string, after map[string]changelog.Seq) ([]string, error) {
	var changed []string
	err := s.view(context.Background(), func(tx storage.Tx) error {
		changed = changed[:0]
		return tx.Collections(user, func(name string, head changelog.Seq) error {
			if v, named := after[name]; !named || head > v {
				changed = append(changed, name)
			}
			return nil
		})
	})
	sort.Strings(changed)
	return changed, err
}

// heads returns the head of each of the user's collections that holds
// items (a collection not listed has head 0).
func (s *Server) heads(user string) (map[string]changelog.Seq, error) {
	heads := map[string]changelog.Seq{}
	err := s.view(context.Background(), func(tx storage.Tx) error {
		clear(heads)
		return tx.Collections(user, func(name string, head changelog.Seq) error {
			heads[name] = head
			return nil
		})
	})
	return heads, err
}
