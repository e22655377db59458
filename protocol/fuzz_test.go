package protocol_test

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/syncprint/syncprint/internal/wirecheck"
	"github.com/syncprint/syncprint/protocol"
)

// Fuzz targets for every decoder of the package (see spec/PROTOCOL.md 4.1).
// Seed corpora are in testdata/fuzz/<target>/ (the spec's message and
// malformed vectors, plus hand-made bodies; `make fuzz-seeds` rewrites the
// generated ones); `go test` runs every seed, `make fuzz` fuzzes.

// FuzzScan compares the scanner with the wirecheck oracle: both accept
// the same prefixes of the same length, and both refuse the rest.
func FuzzScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := protocol.Scan(b)
		wn, werr := wirecheck.ParsePrefix(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("scan: %d, %v; oracle: %d, %v", n, err, wn, werr)
		}
		if err == nil && n != wn {
			t.Fatalf("scan took %d bytes, the oracle %d", n, wn)
		}
		if err == nil && (n <= 0 || n > len(b)) {
			t.Fatalf("scan returned length %d of %d bytes", n, len(b))
		}
	})
}

// checkMessage asserts what every decoder owes any body b:
//
//   - no panic; a refusal is a *protocol.Error with code malformed_request;
//   - it accepts b exactly when the oracle does (SP-4.1-3, SP-4.1-4), with
//     the one liberty SP-4.1-5 gives: refusing a repeated key;
//   - the accepted message re-encodes to the canonical form of b
//     (SP-4.1-2), except that Marshal keeps a nil slice nil (c0);
//   - decode(encode(m)) == m, and encoding is stable;
//   - Unmarshal and UnmarshalOwned agree, and for the bulk messages the
//     hand-written decoder agrees with the reflective one whenever it
//     takes a body.
func checkMessage[T any](t *testing.T, b []byte) {
	t.Helper()
	in := bytes.Clone(b)
	var m T
	err := protocol.Unmarshal(b, &m)
	if !bytes.Equal(in, b) {
		t.Fatalf("Unmarshal wrote to its input")
	}
	want, oerr := wirecheck.Canonical(b, &m, wirecheck.Options{KeepNil: true})
	if err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeMalformed {
			t.Fatalf("refusal is not malformed_request: %#v", err)
		}
		if !utf8.ValidString(pe.Message) {
			t.Fatalf("error message is not valid UTF-8: %q", pe.Message)
		}
		if oerr == nil && !hasRepeatedKey(b) {
			t.Fatalf("refused a body the spec accepts (canonical %x): %v", want, err)
		}
		return
	}
	if oerr != nil {
		t.Fatalf("accepted a body the spec refuses: %v\n%#v", oerr, m)
	}
	out, err := protocol.Marshal(&m)
	if err != nil {
		t.Fatalf("Marshal of a decoded message: %v", err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("re-encoding is not the canonical form of the input\n  in %x\n got %x\nwant %x\n%#v", b, out, want, m)
	}
	var again T
	if err := protocol.Unmarshal(out, &again); err != nil {
		t.Fatalf("decode(encode(m)): %v", err)
	}
	if !reflect.DeepEqual(m, again) {
		t.Fatalf("decode(encode(m)) != m\n got %#v\nwant %#v", again, m)
	}
	if out2, _ := protocol.Marshal(&again); !bytes.Equal(out, out2) {
		t.Fatalf("encoding is not stable: %x then %x", out, out2)
	}
	var owned T
	if err := protocol.UnmarshalOwned(bytes.Clone(b), &owned); err != nil || !reflect.DeepEqual(m, owned) {
		t.Fatalf("UnmarshalOwned: %v\n got %#v\nwant %#v", err, owned, m)
	}
	var fast T
	if protocol.UnmarshalFast(b, &fast) {
		var slow T
		if err := protocol.UnmarshalReflect(b, &slow); err != nil {
			t.Fatalf("the fast decoder took a body the reflective one refuses: %v", err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast and reflective decoders disagree\nfast %#v\nslow %#v", fast, slow)
		}
	}
}

// hasRepeatedKey reports whether some map in b repeats a str key.
func hasRepeatedKey(b []byte) bool {
	found := false
	var walk func(off, depth int) int
	walk = func(off, depth int) int {
		n, err := protocol.Scan(b[off:])
		if err != nil || depth > 20 {
			return len(b)
		}
		c := b[off]
		count, hdr := 0, 0
		isMap := false
		switch {
		case c&0xf0 == 0x80:
			count, hdr, isMap = int(c&0x0f), 1, true
		case c&0xf0 == 0x90:
			count, hdr = int(c&0x0f), 1
		case c == 0xdc, c == 0xde:
			count, hdr, isMap = int(b[off+1])<<8|int(b[off+2]), 3, c == 0xde
		case c == 0xdd, c == 0xdf:
			count, hdr, isMap = int(b[off+1])<<24|int(b[off+2])<<16|int(b[off+3])<<8|int(b[off+4]), 5, c == 0xdf
		default:
			return off + n
		}
		pos := off + hdr
		keys := map[string]bool{}
		for i := 0; i < count; i++ {
			if isMap {
				kn, _ := protocol.Scan(b[pos:])
				k := string(b[pos : pos+kn])
				if keys[k] {
					found = true
				}
				keys[k] = true
				pos += kn
			}
			pos = walk(pos, depth+1)
		}
		return pos
	}
	if len(b) > 0 {
		walk(0, 0)
	}
	return found
}

func FuzzUnmarshalInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.Info](t, b) })
}

func FuzzUnmarshalInfoShort(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.InfoShort](t, b) })
}

func FuzzUnmarshalCollectionsRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.CollectionsRequest](t, b) })
}

func FuzzUnmarshalCollectionsResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.CollectionsResponse](t, b) })
}

func FuzzUnmarshalChangesRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ChangesRequest](t, b) })
}

func FuzzUnmarshalChangesResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ChangesResponse](t, b) })
}

func FuzzUnmarshalExchangeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ExchangeRequest](t, b) })
}

func FuzzUnmarshalExchangeResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ExchangeResponse](t, b) })
}

func FuzzUnmarshalWatchRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.WatchRequest](t, b) })
}

func FuzzUnmarshalWatchResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.WatchResponse](t, b) })
}

func FuzzUnmarshalConflictsRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ConflictsRequest](t, b) })
}

func FuzzUnmarshalConflictsResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ConflictsResponse](t, b) })
}

func FuzzUnmarshalResolveRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ResolveRequest](t, b) })
}

func FuzzUnmarshalResolveResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.ResolveResponse](t, b) })
}

func FuzzUnmarshalTokenRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.TokenRequest](t, b) })
}

func FuzzUnmarshalTokenResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.TokenResponse](t, b) })
}

func FuzzUnmarshalError(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkMessage[protocol.Error](t, b) })
}

var (
	collectionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	batchIDRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

// FuzzValidators checks the validators of client-supplied names against
// the grammar of spec/PROTOCOL.md section 2, and that every error built
// from client bytes is a valid, canonical Error body (SP-9-7, SP-4.1-2).
func FuzzValidators(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		idOK := s != "" && len(s) <= protocol.MaxIDBytes && utf8.ValidString(s) &&
			!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
		err := protocol.ValidateID(s)
		if (err == nil) != idOK {
			t.Fatalf("ValidateID(%q) = %v, the grammar says valid=%v", s, err, idOK)
		}
		if err != nil {
			pe := err.(*protocol.Error)
			if pe.Code != protocol.CodeInvalidID {
				t.Fatalf("ValidateID code %s", pe.Code)
			}
			if s != "" && (len(pe.IDs) != 1 || pe.IDs[0] != protocol.ErrorID(s)) {
				t.Fatalf("ValidateID ids %q, want [ErrorID(s)]", pe.IDs)
			}
		}
		eid := protocol.ErrorID(s)
		if !utf8.ValidString(eid) || len(eid) > protocol.MaxIDBytes {
			t.Fatalf("ErrorID(%q) = %q: not valid UTF-8 of at most %d bytes", s, eid, protocol.MaxIDBytes)
		}
		if utf8.ValidString(s) && len(s) <= protocol.MaxIDBytes && eid != s {
			t.Fatalf("ErrorID changed a valid ID %q to %q", s, eid)
		}
		if !strings.HasPrefix(strings.ToValidUTF8(s, "\uFFFD"), eid) {
			t.Fatalf("ErrorID(%q) = %q is not a prefix of the repaired ID", s, eid)
		}
		check := func(name string, err error, ok bool, code protocol.Code) {
			if (err == nil) != ok {
				t.Fatalf("%s(%q) = %v, the grammar says valid=%v", name, s, err, ok)
			}
			if err != nil && protocol.CodeOf(err) != code {
				t.Fatalf("%s(%q) code %s, want %s", name, s, protocol.CodeOf(err), code)
			}
		}
		check("ValidateCollection", protocol.ValidateCollection(s), collectionRE.MatchString(s), protocol.CodeInvalidCollection)
		check("ValidateBatchID", protocol.ValidateBatchID(s), batchIDRE.MatchString(s), protocol.CodeMalformed)
		check("ValidateName", protocol.ValidateName(s), nameRE.MatchString(s), protocol.CodeMalformed)
		r, err := protocol.ParseRule(s)
		if (err == nil) != slices.Contains(protocol.Rules, protocol.Rule(s)) || err == nil && string(r) != s {
			t.Fatalf("ParseRule(%q) = %q, %v", s, r, err)
		}
		e := protocol.Errorf(protocol.CodeInvalidID, "item %q: %s", s, s).WithIDs(s, s+s)
		body, err := protocol.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := wirecheck.CheckCanonical(body, e); err != nil {
			t.Fatalf("error body: %v", err)
		}
		if err := wirecheck.CheckStrs(body); err != nil {
			t.Fatalf("error body: %v", err)
		}
	})
}

// FuzzUnmarshalCapped compares UnmarshalCapped with Unmarshal on the
// messages that carry lists: the same bodies are malformed, a list over
// the cap keeps its first cap+1 entries (cap+1 distinct keys for a map),
// and everything else decodes the same.
func FuzzUnmarshalCapped(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, capByte byte) {
		max := int(capByte % 8)
		checkCapped(t, b, max, func(full, capped *protocol.ExchangeRequest) {
			if len(full.Uploads) > max {
				if len(capped.Uploads) != max+1 || !reflect.DeepEqual(full.Uploads[:max+1], capped.Uploads) {
					t.Fatalf("uploads cut to %d, want the first %d", len(capped.Uploads), max+1)
				}
				full.Uploads, capped.Uploads = nil, nil
			}
			if len(full.Downloads) > max {
				if len(capped.Downloads) != max+1 || !reflect.DeepEqual(full.Downloads[:max+1], capped.Downloads) {
					t.Fatalf("downloads cut to %d, want the first %d", len(capped.Downloads), max+1)
				}
				full.Downloads, capped.Downloads = nil, nil
			}
		})
		checkCapped(t, b, max, func(full, capped *protocol.ResolveRequest) {
			if len(full.Close) > max {
				if len(capped.Close) != max+1 || !reflect.DeepEqual(full.Close[:max+1], capped.Close) {
					t.Fatalf("close cut to %d, want the first %d", len(capped.Close), max+1)
				}
				full.Close, capped.Close = nil, nil
			}
		})
		checkCapped(t, b, max, func(full, capped *protocol.WatchRequest) {
			if len(full.Cursors) > max {
				if len(capped.Cursors) != max+1 {
					t.Fatalf("cursors cut to %d, want %d", len(capped.Cursors), max+1)
				}
				for k := range capped.Cursors {
					if _, ok := full.Cursors[k]; !ok {
						t.Fatalf("cursor %q is not in the body", k)
					}
				}
				full.Cursors, capped.Cursors = nil, nil
			}
		})
	})
}

func checkCapped[T any](t *testing.T, b []byte, max int, lists func(full, capped *T)) {
	t.Helper()
	var full, capped T
	err := protocol.Unmarshal(b, &full)
	cerr := protocol.UnmarshalCapped(b, &capped, max)
	if (err == nil) != (cerr == nil) {
		t.Fatalf("%T: Unmarshal %v, UnmarshalCapped(%d) %v", full, err, max, cerr)
	}
	if err != nil {
		if protocol.CodeOf(cerr) != protocol.CodeMalformed {
			t.Fatalf("UnmarshalCapped refusal %v", cerr)
		}
		return
	}
	// The owned variant decodes the same (from a copy it may share).
	var owned T
	if err := protocol.UnmarshalCappedOwned(bytes.Clone(b), &owned, max); err != nil {
		t.Fatalf("UnmarshalCappedOwned(%d): %v, UnmarshalCapped accepted it", max, err)
	}
	if !reflect.DeepEqual(capped, owned) {
		t.Fatalf("UnmarshalCappedOwned(%d) decodes differently\ncapped %#v\nowned  %#v", max, capped, owned)
	}
	lists(&full, &capped)
	if !reflect.DeepEqual(full, capped) {
		t.Fatalf("UnmarshalCapped(%d) decodes differently\nfull   %#v\ncapped %#v", max, full, capped)
	}
}
