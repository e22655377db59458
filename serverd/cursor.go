package serverd

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/protocol"
)

// Cursor format: "1.<epoch>.<version>.<mac>", mac = first 16 hex chars of
// HMAC-SHA256(secret, user \x00 collection \x00 epoch \x00 version).
const (
	cursorPrefix = "1"
	macHexLen    = 16
	epochHexLen  = 16
)

// cursors issues and checks cursors of one data set.
type cursors struct {
	epoch  string
	secret []byte
}

func (c *cursors) mac(user, coll, epoch, version string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(coll))
	m.Write([]byte{0})
	m.Write([]byte(epoch))
	m.Write([]byte{0})
	m.Write([]byte(version))
	return hex.EncodeToString(m.Sum(nil))[:macHexLen]
}

// issue returns the cursor of a version of a user's collection.
func (c *cursors) issue(user, coll string, v changelog.Seq) string {
	vs := strconv.FormatUint(uint64(v), 10)
	return cursorPrefix + "." + c.epoch + "." + vs + "." + c.mac(user, coll, c.epoch, vs)
}

// parse returns the version a cursor stands for; "" is version 0. A cursor
// of the wrong shape, with a bad MAC, or of another user or collection is
// invalid_cursor; a well-formed cursor of another epoch is cursor_expired.
func (c *cursors) parse(user, coll, cur string) (changelog.Seq, error) {
	if cur == "" {
		return 0, nil
	}
	parts := strings.Split(cur, ".")
	if len(parts) != 4 || parts[0] != cursorPrefix || !isLowerHex(parts[1], epochHexLen) || !isLowerHex(parts[3], macHexLen) {
		return 0, protocol.Errorf(protocol.CodeInvalidCursor, "cursor %q was not issued by this server", clip(cur))
	}
	v, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil || strconv.FormatUint(v, 10) != parts[2] {
		return 0, protocol.Errorf(protocol.CodeInvalidCursor, "cursor %q was not issued by this server", clip(cur))
	}
	if parts[1] != c.epoch {
		return 0, protocol.Errorf(protocol.CodeCursorExpired, "cursor is from epoch %s, the server's data set is epoch %s; restart from an empty cursor", parts[1], c.epoch)
	}
	want := c.mac(user, coll, parts[1], parts[2])
	if !hmac.Equal([]byte(want), []byte(parts[3])) {
		return 0, protocol.Errorf(protocol.CodeInvalidCursor, "cursor %q was not issued for collection %q of this user", clip(cur), coll)
	}
	return changelog.Seq(v), nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// clip shortens client-supplied text quoted in error messages.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// errCursorAhead is the answer to a cursor of the current epoch whose
// version is greater than the collection's head: the data set lost
// versions it issued a cursor for (restored from a backup without taking
// a new epoch), so the versions after the head will be assigned again and
// the client must pull from the beginning [SP-6.1-7].
func errCursorAhead(v, head changelog.Seq) error {
	return protocol.Errorf(protocol.CodeCursorExpired, "cursor is at version %d, past the collection's head %d: the data set lost versions; restart from an empty cursor", v, head)
}
