package conformance

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/syncprint/syncprint/internal/fuzzseed"
)

// TestFuzzSeedsAreUpToDate gives FuzzRenderMsgpack the spec's message and
// malformed vectors as seeds (SYNCPRINT_UPDATE_FUZZ_SEEDS=1 rewrites them).
func TestFuzzSeedsAreUpToDate(t *testing.T) {
	var seeds []fuzzseed.Seed
	for _, f := range []struct{ file, list string }{{"messages.json", "messages"}, {"malformed.json", "malformed"}} {
		b, err := os.ReadFile(filepath.Join("..", "spec", "vectors", f.file))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		var entries []struct{ Name, Hex string }
		if err := json.Unmarshal(doc[f.list], &entries); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			body, err := hex.DecodeString(e.Hex)
			if err != nil {
				t.Fatal(err)
			}
			seeds = append(seeds, fuzzseed.Seed{Name: f.list + "-" + e.Name, Args: []any{body}})
		}
	}
	fuzzseed.Check(t, map[string][]fuzzseed.Seed{"FuzzRenderMsgpack": seeds})
}
