package serverd

import (
	"context"
	"errors"
	"maps"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/storage"
)

// baseFeatures are the features every server announces; the content
// codings it offers follow them.
var baseFeatures = []string{protocol.FeatureWatch, protocol.FeatureConflicts, protocol.FeatureAdmin, protocol.FeatureInfoCollections, protocol.FeatureInfoTag, protocol.FeatureNextCursor, protocol.FeatureResolveBatch}

// handleInfo answers GET /v1/info.
func (s *Server) handleInfo(c *call) (any, error) {
	info := protocol.Info{
		Versions:      []int{protocol.Version},
		Server:        "syncprint/" + s.cfg.Version,
		Epoch:         s.cursors.epoch,
		Limits:        s.cfg.Limits,
		Rules:         maps.Clone(s.cfg.Rules),
		DefaultRule:   s.cfg.DefaultRule,
		MaxSkewMillis: int(s.cfg.MaxSkew.Milliseconds()),
		ServerTime:    uint64(s.clock.Now()),
		Features:      s.features,
		User:          c.user,
		Replica:       string(c.replica),
	}
	// SP-3-16: the tag of what does not change from one request to the
	// next; a caller that holds the Info it names gets the rest only.
	info.Tag = protocol.InfoTag(&info)
	if c.user != "" {
		// SP-3-15: the session's collection listing, without a request of its own.
		var err error
		if info.Collections, info.ConflictsSeq, err = s.collections(c.user); err != nil {
			return nil, err
		}
	}
	if known := c.ctx.Request.Header.Peek(protocol.HeaderInfoTag); len(known) > 0 && string(known) == info.Tag {
		return info.Short(), nil
	}
	return &info, nil
}

// collections lists the user's collections holding items [SP-6-1] and the
// user's conflicts sequence number [SP-10-8], read together.
func (s *Server) collections(user string) (colls []protocol.Collection, seq uint64, err error) {
	err = s.view(context.Background(), func(tx storage.Tx) error {
		var err error
		if seq, err = conflictsSeq(tx, user); err != nil {
			return err
		}
		return tx.Collections(user, func(name string, head changelog.Seq) error {
			colls = append(colls, protocol.Collection{Name: name, Rule: s.cfg.ruleFor(name), Head: uint64(head)})
			return nil
		})
	})
	return colls, seq, err
}

// handleCollections answers POST /v1/collections.
func (s *Server) handleCollections(c *call) (any, error) {
	var req protocol.CollectionsRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	colls, seq, err := s.collections(c.user)
	if err != nil {
		return nil, err
	}
	if colls == nil {
		colls = []protocol.Collection{} // canonical: present, 90
	}
	return &protocol.CollectionsResponse{Collections: colls, ConflictsSeq: seq}, nil
}

// handleChanges answers POST /v1/changes: one page of change info.
func (s *Server) handleChanges(c *call) (any, error) {
	var req protocol.ChangesRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := protocol.ValidateCollection(req.Collection); err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit < 0 { // the codec refuses these; never let one size a slice
		return nil, protocol.Errorf(protocol.CodeMalformed, "limit %d is out of range", limit)
	}
	if limit == 0 {
		limit = min(protocol.DefaultPage, s.cfg.Limits.MaxPage)
	}
	if limit > s.cfg.Limits.MaxPage {
		return nil, protocol.Errorf(protocol.CodeTooManyItems, "limit %d is over max_page %d", limit, s.cfg.Limits.MaxPage)
	}
	after, err := s.cursors.parse(c.user, req.Collection, req.Cursor)
	if err != nil {
		return nil, err
	}
	resp := protocol.ChangesResponse{Changes: make([]protocol.ChangeInfo, 0, min(limit, 1024))}
	var slab fpSlab
	var contents *pageContents
	if req.Content {
		contents = &pageContents{budget: s.cfg.Limits.MaxBatchBytes}
	}
	err = s.view(context.Background(), func(tx storage.Tx) error {
		coll, err := tx.Collection(c.user, req.Collection)
		if err != nil {
			return err
		}
		head, err := coll.Head()
		if err != nil {
			return err
		}
		resp.Head = uint64(head)
		if after > head {
			return errCursorAhead(after, head)
		}
		if contents != nil {
			contents.slab = newContentSlab(coll)
		}
		return coll.Since(after, limit+1, func(e changelog.Entry) error {
			if len(resp.Changes) == limit || contents != nil && !contents.fits(e) {
				resp.More = true
				return errPageFull
			}
			if contents != nil {
				c, err := contents.load(e)
				if err != nil {
					return err
				}
				resp.Contents = append(resp.Contents, c)
			}
			resp.Changes = append(resp.Changes, slab.changeInfo(e))
			return nil
		})
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	last := after
	if n := len(resp.Changes); n > 0 {
		last = changelog.Seq(resp.Changes[n-1].Version)
	}
	if !resp.More {
		// SP-6.1-9: the last page's cursor is the cursor of the head (no
		// item's current version lies between), so that a client that
		// finds the same head in Info knows nothing changed.
		last = changelog.Seq(resp.Head)
	}
	resp.Cursor = s.cursors.issue(c.user, req.Collection, last)
	if resp.More && len(resp.Changes) > 0 {
		// SP-6.1-10: the client may ask for the next page while this
		// one's body is on its way.
		c.ctx.Response.Header.Set(protocol.HeaderNextCursor, resp.Cursor)
	}
	return &resp, nil
}

// handleAdminTokens answers POST /v1/admin/tokens.
func (s *Server) handleAdminTokens(c *call) (any, error) {
	var req protocol.TokenRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	for _, n := range []string{req.User, req.Device} {
		if err := protocol.ValidateName(n); err != nil {
			return nil, err
		}
	}
	tok, err := s.createToken(context.Background(), req.User, req.Device)
	if err != nil {
		return nil, err
	}
	return &protocol.TokenResponse{Token: tok, User: req.User, Device: req.Device}, nil
}

// errPageFull stops a change-info scan once the page is full.
var errPageFull = errors.New("page full")

// pageContents loads the contents of a change-info page that asked for
// them [SP-6.1-8], in the same read transaction as its entries, so each is
// the content of its entry's version. The page ends before the entry whose
// content would take the page's contents over budget (max_batch_bytes, as
// for an exchange's downloads); its first entry always goes.
type pageContents struct {
	slab   *contentSlab
	budget int
	used   int
	n      int
}

// fits reports whether e's content may join the page.
func (p *pageContents) fits(e changelog.Entry) bool {
	return p.n == 0 || p.used+int(e.Size) <= p.budget
}

// load returns e's content: nil for a tombstone, never nil otherwise.
func (p *pageContents) load(e changelog.Entry) ([]byte, error) {
	p.n++
	if e.Deleted {
		return nil, nil
	}
	p.used += int(e.Size)
	return p.slab.content(e.ID, int(e.Size))
}
