package serverd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/protocol"
)

func TestCursorsRoundTripAndAreBoundToUserCollectionAndEpoch(t *testing.T) {
	c := cursors{epoch: "0011223344556677", secret: []byte("secret")}
	cur := c.issue("alice", "notes", 42)
	require.Regexp(t, `^1\.0011223344556677\.42\.[0-9a-f]{16}$`, cur)
	v, err := c.parse("alice", "notes", cur)
	require.NoError(t, err)
	require.Equal(t, changelog.Seq(42), v)
	v, err = c.parse("alice", "notes", "")
	require.NoError(t, err)
	require.Zero(t, v)

	for name, bad := range map[string]struct{ user, coll, cur string }{
		"another user":       {"bob", "notes", cur},
		"another collection": {"alice", "tasks", cur},
		"another version":    {"alice", "notes", strings.Replace(cur, ".42.", ".43.", 1)},
		"a leading zero":     {"alice", "notes", strings.Replace(cur, ".42.", ".042.", 1)},
		"a bad prefix":       {"alice", "notes", "2" + cur[1:]},
		"upper-case hex":     {"alice", "notes", strings.ToUpper(cur)},
		"too few parts":      {"alice", "notes", "1.0011223344556677.42"},
		"another secret":     {"alice", "notes", (&cursors{epoch: c.epoch, secret: []byte("other")}).issue("alice", "notes", 42)},
	} {
		_, err := c.parse(bad.user, bad.coll, bad.cur)
		require.Equal(t, protocol.CodeInvalidCursor, protocol.CodeOf(err), name)
	}
	other := cursors{epoch: "8899aabbccddeeff", secret: []byte("x")}
	_, err = c.parse("alice", "notes", other.issue("alice", "notes", 1))
	require.Equal(t, protocol.CodeCursorExpired, protocol.CodeOf(err))
}

func FuzzCursorParse(f *testing.F) {
	c := cursors{epoch: "0011223344556677", secret: []byte("secret")}
	f.Add(c.issue("alice", "notes", 7))
	f.Add("1.8899aabbccddeeff.1.0123456789abcdef")
	f.Add("")
	f.Add("1...")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := c.parse("alice", "notes", s)
		if err != nil {
			code := protocol.CodeOf(err)
			if code != protocol.CodeInvalidCursor && code != protocol.CodeCursorExpired {
				t.Fatalf("parse(%q): unexpected error %v", s, err)
			}
			return
		}
		if s != "" && c.issue("alice", "notes", v) != s {
			t.Fatalf("parse(%q) accepted a cursor the server would not issue", s)
		}
	})
}
