package protocol_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncprint/syncprint/internal/fuzzseed"
)

// TestFuzzSeedsAreUpToDate keeps testdata/fuzz/*/seed-* in step with the
// spec's vectors and the hand-made bodies listed here
// (SYNCPRINT_UPDATE_FUZZ_SEEDS=1 rewrites them).
func TestFuzzSeedsAreUpToDate(t *testing.T) {
	var msgs struct {
		Messages []struct{ Name, Type, Hex string }
	}
	var mal struct {
		Malformed []struct{ Name, Type, Hex string }
		Accepted  []struct{ Name, Type, Hex string }
	}
	readVectors(t, "messages.json", &msgs)
	readVectors(t, "malformed.json", &mal)
	corpora := map[string][]fuzzseed.Seed{}
	add := func(target, name string, b []byte) {
		corpora[target] = append(corpora[target], fuzzseed.Seed{Name: name, Args: []any{b}})
	}
	var scan []fuzzseed.Seed
	for _, m := range msgs.Messages {
		add("FuzzUnmarshal"+m.Type, "spec-"+m.Name, unhexT(t, m.Hex))
		scan = append(scan, fuzzseed.Seed{Name: "spec-" + m.Name, Args: []any{unhexT(t, m.Hex)}})
	}
	for _, m := range mal.Malformed {
		add("FuzzUnmarshal"+m.Type, "malformed-"+m.Name, unhexT(t, m.Hex))
		scan = append(scan, fuzzseed.Seed{Name: "malformed-" + m.Name, Args: []any{unhexT(t, m.Hex)}})
	}
	for _, m := range mal.Accepted {
		add("FuzzUnmarshal"+m.Type, "accepted-"+m.Name, unhexT(t, m.Hex))
	}
	// Hand-made bodies for every message: lengths that lie, nesting at and
	// past the limit, every integer width, nil everywhere.
	generic := map[string][]byte{
		"empty map":              {0x80},
		"map32 claiming 4G keys": {0xdf, 0xff, 0xff, 0xff, 0xff},
		"map16 of nils":          {0xde, 0x00, 0x01, 0xa1, 'x', 0xc0},
		"array32 under a key":    {0x81, 0xa1, 'x', 0xdd, 0x7f, 0xff, 0xff, 0xff},
		"bin32 claiming 4G":      {0x81, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff},
		"str32 claiming 4G":      {0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff},
		"uint64 max":             {0x81, 0xa1, 'x', 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"int64 max":              {0x81, 0xa1, 'x', 0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"nesting 16 deep":        nest(15),
		"nesting 17 deep":        nest(16),
	}
	for typ := range messageTypes {
		for name, b := range generic {
			add("FuzzUnmarshal"+typ, "hand-"+name, b)
		}
	}
	for name, b := range generic {
		scan = append(scan, fuzzseed.Seed{Name: "hand-" + name, Args: []any{b}})
	}
	corpora["FuzzScan"] = scan
	for i, s := range []string{"", "a", "notes", "Notes", "n-1.x_y", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"batch-0000000001", "é", "a\x00b", "a\x7fb", "\xff\xfe", strings.Repeat("é", 129), "server-wins", "manual", "alice/phone"} {
		corpora["FuzzValidators"] = append(corpora["FuzzValidators"], fuzzseed.Seed{Name: hex.EncodeToString([]byte{byte(i)}), Args: []any{s}})
	}
	// FuzzUnmarshalCapped: the list messages with caps at and under their
	// lengths, lists with a bad entry past the cap, maps with repeated keys.
	capped := func(name string, b []byte, c byte) {
		corpora["FuzzUnmarshalCapped"] = append(corpora["FuzzUnmarshalCapped"], fuzzseed.Seed{Name: name, Args: []any{b, c}})
	}
	for _, m := range msgs.Messages {
		switch m.Type {
		case "ExchangeRequest", "ResolveRequest", "WatchRequest":
			capped("spec-"+m.Name+"-cap0", unhexT(t, m.Hex), 0)
			capped("spec-"+m.Name+"-cap1", unhexT(t, m.Hex), 1)
		}
	}
	list := func(key string, elems ...byte) []byte {
		b := append([]byte{0x81, byte(0xa0 | len(key))}, key...)
		b = append(b, byte(0x90|len(elems)))
		return append(b, elems...)
	}
	capped("hand-uploads of nils", list("uploads", 0xc0, 0xc0, 0xc0), 1)
	capped("hand-uploads with a bad entry past the cap", list("uploads", 0x80, 0x80, 0x01), 0)
	capped("hand-downloads with a bad entry past the cap", list("downloads", 0xa1, 'a', 0xa1, 'b', 0xc3), 0)
	capped("hand-close of empty strings", list("close", 0xa0, 0xa0, 0xa0, 0xa0), 2)
	capped("hand-cursors with repeated keys", []byte{0x81, 0xa7, 'c', 'u', 'r', 's', 'o', 'r', 's', 0x84, 0xa1, 'a', 0xa0, 0xa1, 'a', 0xa1, 'x', 0xa1, 'b', 0xa0, 0xa1, 'c', 0xc0}, 1)
	capped("hand-cursors with a bad value past the cap", []byte{0x81, 0xa7, 'c', 'u', 'r', 's', 'o', 'r', 's', 0x83, 0xa1, 'a', 0xa0, 0xa1, 'b', 0xa0, 0xa1, 'c', 0x05}, 0)
	for target := range corpora {
		if _, ok := messageTypes[strings.TrimPrefix(target, "FuzzUnmarshal")]; !ok && strings.HasPrefix(target, "FuzzUnmarshal") && target != "FuzzUnmarshalCapped" {
			t.Fatalf("no fuzz target %s", target)
		}
	}
	fuzzseed.Check(t, corpora)
}

// messageTypes names the messages that have a FuzzUnmarshal<Type> target.
var messageTypes = map[string]any{
	"Info": nil, "InfoShort": nil, "CollectionsRequest": nil, "CollectionsResponse": nil, "ChangesRequest": nil, "ChangesResponse": nil,
	"ExchangeRequest": nil, "ExchangeResponse": nil, "WatchRequest": nil, "WatchResponse": nil, "ConflictsRequest": nil,
	"ConflictsResponse": nil, "ResolveRequest": nil, "ResolveResponse": nil, "TokenRequest": nil, "TokenResponse": nil, "Error": nil,
}

// nest returns a map with n maps nested under key "x", ending in nil.
func nest(n int) []byte {
	var b []byte
	for i := 0; i <= n; i++ {
		b = append(b, 0x81, 0xa1, 'x')
	}
	return append(b, 0xc0)
}

func readVectors(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "spec", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
