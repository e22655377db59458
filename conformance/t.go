package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/protocol"
)

// abort ends a case early with its verdict already set.
type abort struct{}

// T is what a server-mode case works with: the target, its announced
// Info, a transcript recorder and the verdict. A case ends at its first
// failure: Fail, Skip and Errorf never return.
type T struct {
	ctx    context.Context
	target *Target
	info   protocol.Info // of user A, fetched by the runner
	rec    recorder
	c      *Case

	mu       sync.Mutex // guards verdict, the fields below and notes
	verdict  Verdict
	reason   string
	expected string
	seen     string
	notes    []string
}

// Context returns the case's context; it ends at the case's deadline.
func (t *T) Context() context.Context { return t.ctx }

// Info returns user A's Info as fetched at the start of the run.
func (t *T) Info() protocol.Info { return t.info }

// Logf adds a note to the case's report.
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *T) end(v Verdict, reason, expected, seen string) {
	t.mu.Lock()
	if t.verdict == "" {
		t.verdict, t.reason, t.expected, t.seen = v, reason, expected, seen
	}
	t.mu.Unlock()
	panic(abort{})
}

// Fail ends the case with FAIL: the implementation did not do what the
// requirement says.
func (t *T) Fail(expected, seen string) { t.end(Fail, "", expected, seen) }

// Failf is Fail with a formatted "seen".
func (t *T) Failf(expected, seenFormat string, args ...any) {
	t.Fail(expected, fmt.Sprintf(seenFormat, args...))
}

// Check fails the case unless cond holds.
func (t *T) Check(cond bool, expected, seenFormat string, args ...any) {
	if !cond {
		t.Failf(expected, seenFormat, args...)
	}
}

// Equal fails the case unless got equals want (reflect.DeepEqual, with nil
// and empty slices equal).
func (t *T) Equal(what string, want, got any) {
	if !equalish(want, got) {
		t.Fail(fmt.Sprintf("%s = %s", what, show(want)), fmt.Sprintf("%s = %s", what, show(got)))
	}
}

func equalish(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.IsValid() && vb.IsValid() && va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice && va.Len() == 0 && vb.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	switch x := v.(type) {
	case []byte:
		return "bin(" + hex.EncodeToString(x) + ")"
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return brief(v)
}

// brief renders a value for a failure message: wire messages as decoded
// msgpack (bin values in hex), anything else with %+v.
func brief(v any) string {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "nil"
	}
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Struct, reflect.Slice:
		if b, err := protocol.Marshal(v); err == nil && len(b) > 0 && (b[0]&0xf0 == 0x80 || b[0]&0xf0 == 0x90 || b[0] >= 0xdc && b[0] <= 0xdf) {
			return renderMsgpack(b)
		}
	}
	return fmt.Sprintf("%+v", v)
}

// Skip ends the case with SKIP and a reason.
func (t *T) Skip(format string, args ...any) { t.end(Skip, fmt.Sprintf(format, args...), "", "") }

// Errorf ends the case with ERROR: the harness could not run it.
func (t *T) Errorf(format string, args ...any) { t.end(Error, fmt.Sprintf(format, args...), "", "") }

// Do sends a request. A transport failure (no response at all) ends the
// case with ERROR unless the case expected it (use TryDo).
func (t *T) Do(req Request) *Response {
	r, err := t.TryDo(req)
	if err != nil {
		t.Errorf("%v", err)
	}
	return r
}

// TryDo sends a request and returns transport failures.
func (t *T) TryDo(req Request) (*Response, error) {
	return t.target.do(t.ctx, &t.rec, req)
}

// Post marshals v and posts it to path as who.
func (t *T) Post(who Who, path string, v any) *Response {
	return t.Do(Request{Path: path, As: who, Body: t.Marshal(v)})
}

// Marshal encodes a message canonically.
func (t *T) Marshal(v any) []byte {
	b, err := protocol.Marshal(v)
	if err != nil {
		t.Errorf("bug: encode %T: %v", v, err)
	}
	return b
}

// OK requires a 200 response and decodes its body into out (nil: no
// decoding).
func (t *T) OK(r *Response, out any) {
	if r.Status != http.StatusOK {
		t.Failf("status 200", "status %d %s", r.Status, describeErr(r))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, protocol.ContentType) {
		t.Failf("Content-Type: "+protocol.ContentType, "Content-Type: %q", ct)
	}
	if out != nil {
		if err := protocol.Unmarshal(r.Body, out); err != nil {
			t.Failf(fmt.Sprintf("a body that decodes as %T (SP-4.1)", out), "%v", err)
		}
	}
}

func describeErr(r *Response) string {
	if r.Err != nil {
		return fmt.Sprintf("code %s (%s)", r.Err.Code, r.Err.Message)
	}
	if r.DecodeErr != nil {
		return fmt.Sprintf("with a body that is not an Error: %v", r.DecodeErr)
	}
	return ""
}

// WantError requires an error response with the given code, the code's
// status, Content-Type msgpack and a decodable Error body [SP-9-1,
// SP-9-2, SP-3-8].
func (t *T) WantError(r *Response, code protocol.Code) *protocol.Error {
	if r.Status == http.StatusOK {
		t.Failf(fmt.Sprintf("error %s (HTTP %d)", code, code.HTTPStatus()), "status 200: the request was accepted")
	}
	if r.Err == nil {
		t.Failf(fmt.Sprintf("error %s (HTTP %d) with an Error body", code, code.HTTPStatus()), "status %d and a body that is not an Error (%v)", r.Status, r.DecodeErr)
	}
	if r.Err.Code != code {
		t.Failf(fmt.Sprintf("error %s (HTTP %d)", code, code.HTTPStatus()), "error %s (HTTP %d): %s", r.Err.Code, r.Status, r.Err.Message)
	}
	if r.Status != code.HTTPStatus() {
		t.Failf(fmt.Sprintf("HTTP status %d for %s", code.HTTPStatus(), code), "HTTP status %d", r.Status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, protocol.ContentType) {
		t.Failf("Content-Type: "+protocol.ContentType+" on an error", "Content-Type: %q", ct)
	}
	return r.Err
}

// WantErrorIDs is WantError that also checks the error's ids.
func (t *T) WantErrorIDs(r *Response, code protocol.Code, ids ...string) {
	e := t.WantError(r, code)
	t.Equal("ids of the "+string(code)+" error", ids, e.IDs)
}

// Need skips the case when who has no token.
func (t *T) Need(who Who) {
	if t.target.token(who) == "" {
		switch who {
		case UserC:
			t.Skip("needs --token-c, a token of a second device of the first user")
		case UserB:
			t.Skip("needs --token-b, a token of another user")
		case Admin:
			t.Skip("needs --admin-token, the server's admin token")
		}
	}
}

// NeedFeature skips the case unless Info.features lists f.
func (t *T) NeedFeature(f string) {
	for _, x := range t.info.Features {
		if x == f {
			return
		}
	}
	t.Skip("the server does not announce the feature %q", f)
}

// HasFeature reports whether Info.features lists f.
func (t *T) HasFeature(f string) bool {
	for _, x := range t.info.Features {
		if x == f {
			return true
		}
	}
	return false
}

// RandomName returns n random lower-case hex characters.
func RandomName(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic("bug: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)[:n]
}

// NewBatchID returns a fresh batch ID (22 characters of base64url).
func NewBatchID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("bug: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Namespace is where a case keeps its items: a collection and a prefix of
// item IDs. In a fresh random collection the prefix is empty; in a shared
// collection announced with a rule it is random.
type Namespace struct {
	Collection string
	Prefix     string
	Rule       protocol.Rule
	// Fresh is true for a collection the case created: nothing else
	// writes there, so its head is the case's to check.
	Fresh bool
}

// ID returns the item ID of name in the namespace.
func (ns Namespace) ID(name string) string { return ns.Prefix + name }

// NewCollection returns a fresh random collection under the default rule.
func (t *T) NewCollection() Namespace {
	for {
		name := "cf-" + RandomName(12)
		if _, taken := t.info.Rules[name]; !taken {
			return Namespace{Collection: name, Rule: t.info.RuleFor(name), Fresh: true}
		}
	}
}

// WithRule returns a namespace in which the server decides with rule: a
// fresh collection when the default rule is rule, else a random item
// prefix in the first collection (by name) the server announces with it.
// It skips the case when there is none.
func (t *T) WithRule(rule protocol.Rule) Namespace {
	if t.info.DefaultRule == rule {
		return t.NewCollection()
	}
	var names []string
	for name, r := range t.info.Rules {
		if r == rule {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Skip("the server announces no collection with rule %s and its default rule is %s", rule, t.info.DefaultRule)
	}
	sort.Strings(names)
	return Namespace{Collection: names[0], Prefix: "cf-" + RandomName(10) + "/", Rule: rule}
}

// Item is an item state a case uploads.
type Item struct {
	ID      string
	Content []byte
	Deleted bool
}

// FP returns the item's fingerprint bytes [SP-4.2].
func FP(id string, deleted bool, content []byte) []byte {
	fp := fingerprint.Of(id, deleted, content)
	return fp[:]
}

// Up builds an upload of an edit with a correct fingerprint.
func Up(id string, base, seen uint64, hlc uint64, content string) protocol.Upload {
	c := []byte(content)
	return protocol.Upload{ID: id, Base: base, Seen: seen, FP: FP(id, false, c), HLC: hlc, Content: c}
}

// Del builds an upload of a deletion with a correct fingerprint.
func Del(id string, base, seen uint64, hlc uint64) protocol.Upload {
	return protocol.Upload{ID: id, Base: base, Seen: seen, FP: FP(id, true, nil), HLC: hlc, Deleted: true, Content: []byte{}}
}
