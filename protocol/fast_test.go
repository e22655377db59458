package protocol

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// gen makes random bulk messages that reach every branch of the encoders:
// nil and empty slices, strings and byte strings at every length class,
// integers at every size.
type gen struct{ r *rand.Rand }

func (g gen) uint() uint64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return uint64(g.r.IntN(128))
	case 2:
		return uint64(128 + g.r.IntN(128))
	case 3:
		return uint64(256 + g.r.IntN(math.MaxUint16-256))
	case 4:
		return uint64(math.MaxUint16) + uint64(g.r.Uint32())
	}
	return g.r.Uint64()
}

func (g gen) len() int {
	switch g.r.IntN(8) {
	case 0:
		return 0
	case 1:
		return 31 + g.r.IntN(3)
	case 2:
		return 255 + g.r.IntN(3)
	case 3:
		if g.r.IntN(4) == 0 {
			return 65535 + g.r.IntN(3)
		}
	}
	return g.r.IntN(40)
}

func (g gen) str() string { return strings.Repeat("é", g.len()/2) + strings.Repeat("x", g.len()%2) }

func (g gen) bin() []byte {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, g.len())
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	return b
}

func (g gen) count() int {
	switch g.r.IntN(10) {
	case 0:
		return -1 // nil
	case 1:
		return 15 + g.r.IntN(3)
	case 2:
		return 70
	}
	return g.r.IntN(4)
}

func (g gen) strs() []string {
	n := g.count()
	if n < 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g gen) changeInfo() ChangeInfo {
	return ChangeInfo{ID: g.str(), Version: g.uint(), FP: g.bin(), HLC: g.uint(), Deleted: g.r.IntN(2) == 0, Replica: g.str(), Size: uint32(g.uint())}
}

func (g gen) exchangeRequest() ExchangeRequest {
	m := ExchangeRequest{Collection: g.str(), BatchID: g.str(), Cursor: g.str(), Downloads: g.strs()}
	if n := g.count(); n >= 0 {
		m.Uploads = make([]Upload, n)
		for i := range m.Uploads {
			m.Uploads[i] = Upload{ID: g.str(), Base: g.uint(), Seen: g.uint(), FP: g.bin(), HLC: g.uint(), Deleted: g.r.IntN(2) == 0, Content: g.bin()}
		}
	}
	return m
}

func (g gen) exchangeResponse() ExchangeResponse {
	m := ExchangeResponse{Missing: g.strs(), Deferred: g.strs(), Cursor: g.str(), Head: g.uint()}
	if n := g.count(); n >= 0 {
		m.Results = make([]UploadResult, n)
		for i := range m.Results {
			m.Results[i] = UploadResult{ID: g.str(), Status: UploadStatus(g.str()), Version: g.uint(), HLC: g.uint(), Conflict: g.str()}
			if g.r.IntN(2) == 0 {
				ci := g.changeInfo()
				m.Results[i].Current = &ci
			}
		}
	}
	if n := g.count(); n >= 0 {
		m.Items = make([]Item, n)
		for i := range m.Items {
			m.Items[i] = Item{ID: g.str(), Version: g.uint(), FP: g.bin(), HLC: g.uint(), Deleted: g.r.IntN(2) == 0, Replica: g.str(), Content: g.bin()}
		}
	}
	return m
}

func (g gen) changesResponse() ChangesResponse {
	m := ChangesResponse{Cursor: g.str(), More: g.r.IntN(2) == 0, Head: g.uint()}
	if n := g.count(); n >= 0 {
		m.Changes = make([]ChangeInfo, n)
		for i := range m.Changes {
			m.Changes[i] = g.changeInfo()
		}
		if g.r.IntN(2) == 0 {
			m.Contents = make([][]byte, n)
			for i := range m.Contents {
				m.Contents[i] = g.bin() // nil for some: a tombstone's
			}
		}
	}
	return m
}

// checkFast asserts that the hand-written codec of msg agrees with the
// reflective one: the same bytes out, and the same value back in.
func checkFast[T any](t *testing.T, msg T) {
	t.Helper()
	want, err := marshalReflect(&msg)
	require.NoError(t, err)
	got, ok := fastMarshal(nil, &msg)
	require.True(t, ok)
	require.True(t, bytes.Equal(want, got), "encodings differ")
	require.LessOrEqual(t, len(got), any(&msg).(interface{ sizeHint() int }).sizeHint(), "the size hint is an upper bound")
	byValue, ok := fastMarshal(nil, msg)
	require.True(t, ok)
	require.True(t, bytes.Equal(want, byValue), "encodings of the value and the pointer differ")

	var ref, fast T
	require.NoError(t, unmarshalReflect(want, &ref))
	require.True(t, fastUnmarshal(want, &fast, false), "the plain path refused the canonical encoding")
	require.True(t, reflect.DeepEqual(ref, fast), "decoded values differ:\nreflect %#v\nfast    %#v", ref, fast)
	var owned T
	require.True(t, fastUnmarshal(bytes.Clone(want), &owned, true))
	require.True(t, reflect.DeepEqual(ref, owned), "decoded values differ:\nreflect %#v\nowned   %#v", ref, owned)
	// The decoded message must not alias the caller's buffer.
	before := bytes.Clone(want)
	for i := range want {
		want[i] = 0xff
	}
	again, err := marshalReflect(&fast)
	require.NoError(t, err)
	require.Equal(t, before, again)
}

func TestFastCodecMatchesTheReflectiveCodec(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < 300; i++ {
		checkFast(t, g.exchangeRequest())
		checkFast(t, g.exchangeResponse())
		checkFast(t, g.changesResponse())
	}
	checkFast(t, ExchangeRequest{})
	checkFast(t, ExchangeResponse{})
	checkFast(t, ChangesResponse{})
	checkFast(t, ExchangeResponse{Results: []UploadResult{}, Items: []Item{}, Missing: []string{}, Deferred: []string{}})
}

func TestAnExchangeWithItsCursorLastDecodesAsTheCanonicalOne(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(3, 4))}
	for i := 0; i < 200; i++ {
		m := g.exchangeRequest()
		canonical, err := Marshal(&m)
		require.NoError(t, err)
		head := AppendExchangeHead(nil, &ExchangeRequest{Collection: m.Collection, BatchID: m.BatchID, Cursor: "ignored", Uploads: m.Uploads, Downloads: m.Downloads})
		body := AppendExchangeCursor(head, m.Cursor)
		require.Equal(t, len(canonical), len(body), "the same bytes, the cursor moved")
		require.LessOrEqual(t, len(body), m.sizeHint())
		for _, owned := range []bool{false, true} {
			var fast ExchangeRequest
			require.True(t, fastUnmarshal(bytes.Clone(body), &fast, owned), "the plain path refused the cursor last")
			again, err := Marshal(&fast)
			require.NoError(t, err)
			require.Equal(t, canonical, again)
		}
		var ref ExchangeRequest
		require.NoError(t, unmarshalReflect(body, &ref))
		again, err := Marshal(&ref)
		require.NoError(t, err)
		require.Equal(t, canonical, again)
	}
}

func TestFastDecoderLeavesUnusualBodiesToTheReflectiveDecoder(t *testing.T) {
	cases := map[string][]byte{
		"an unknown key":              {0x81, 0xa1, 'x', 0x01},
		"a repeated key":              {0x82, 0xa4, 'h', 'e', 'a', 'd', 0x01, 0xa4, 'h', 'e', 'a', 'd', 0x02},
		"nil where a string belongs":  {0x81, 0xa6, 'c', 'u', 'r', 's', 'o', 'r', 0xc0},
		"a bool where a uint belongs": {0x81, 0xa4, 'h', 'e', 'a', 'd', 0xc3},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var m ExchangeResponse
			require.False(t, fastUnmarshal(b, &m, false))
			require.True(t, reflect.ValueOf(m).IsZero(), "a refused body changes nothing")
		})
	}
	t.Run("a target that is not the zero value", func(t *testing.T) {
		b, err := marshalReflect(&ExchangeResponse{Head: 3})
		require.NoError(t, err)
		m := ExchangeResponse{Cursor: "kept"}
		require.False(t, fastUnmarshal(b, &m, false))
	})
}

func BenchmarkMarshalExchangeResponse5000(b *testing.B) {
	m := ExchangeResponse{Results: []UploadResult{}, Missing: []string{}, Deferred: []string{}}
	for i := 0; i < 5000; i++ {
		m.Items = append(m.Items, Item{ID: "item-000000", Version: uint64(i + 1), FP: make([]byte, 32), HLC: 1 << 50, Replica: "bench/dev", Content: make([]byte, 200)})
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Marshal(&m)
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = marshalReflect(&m)
		}
	})
	body, _ := Marshal(&m)
	b.Run("decode-fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out ExchangeResponse
			_ = Unmarshal(body, &out)
		}
	})
	b.Run("decode-reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out ExchangeResponse
			_ = unmarshalReflect(body, &out)
		}
	})
}

// FuzzFastDecoderAgrees checks that whatever the plain path accepts, the
// reflective decoder decodes to the same value.
func FuzzFastDecoderAgrees(f *testing.F) {
	g := gen{rand.New(rand.NewPCG(3, 4))}
	for i := 0; i < 8; i++ {
		for _, m := range []any{g.exchangeRequest(), g.exchangeResponse(), g.changesResponse()} {
			b, _ := marshalReflect(m)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || !isMapCode(b[0]) {
			return
		}
		if n, err := scan(b, 0, 0); err != nil || n != len(b) {
			return
		}
		agree := func(fast, ref any) {
			if !fastUnmarshal(b, fast, false) {
				return
			}
			require.NoError(t, unmarshalReflect(b, ref))
			require.True(t, reflect.DeepEqual(reflect.ValueOf(ref).Elem().Interface(), reflect.ValueOf(fast).Elem().Interface()))
		}
		agree(new(ExchangeRequest), new(ExchangeRequest))
		agree(new(ExchangeResponse), new(ExchangeResponse))
		agree(new(ChangesResponse), new(ChangesResponse))
	})
}

func BenchmarkScanExchangeResponse5000(b *testing.B) {
	m := ExchangeResponse{Results: []UploadResult{}, Missing: []string{}, Deferred: []string{}}
	for i := 0; i < 5000; i++ {
		m.Items = append(m.Items, Item{ID: "item-000000", Version: uint64(i + 1), FP: make([]byte, 32), HLC: 1 << 50, Replica: "bench/dev", Content: make([]byte, 200)})
	}
	body, _ := Marshal(&m)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = scan(body, 0, 0)
	}
}
