package fuzzseed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// UpdateEnv names the environment variable that makes Check write.
const UpdateEnv = "SYNCPRINT_UPDATE_FUZZ_SEEDS"

// Seed is one generated corpus entry: the fuzz function's arguments after
// *testing.T, in order.
type Seed struct {
	Name string
	Args []any
}

// File renders args in the corpus file format of go test (version 1).
// Supported types are string, []byte, bool, byte, uint16 and uint64.
func File(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		default:
			panic(fmt.Sprintf("bug: fuzzseed.File: unsupported type %T", a))
		}
	}
	return b.Bytes()
}

// Check compares the seeds of each target with the files under
// testdata/fuzz/<target>/ of the current package, or writes them when
// UpdateEnv is set.
func Check(t *testing.T, corpora map[string][]Seed) {
	t.Helper()
	update := os.Getenv(UpdateEnv) != ""
	targets := make([]string, 0, len(corpora))
	for target := range corpora {
		targets = append(targets, target)
	}
	sort.Strings(targets)
	for _, target := range targets {
		dir := filepath.Join("testdata", "fuzz", target)
		want := map[string][]byte{}
		for _, s := range corpora[target] {
			name := "seed-" + sanitize(s.Name)
			if _, dup := want[name]; dup {
				t.Fatalf("%s: two seeds named %s", target, name)
			}
			want[name] = File(s.Args...)
		}
		have := map[string]bool{}
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "seed-") {
				have[e.Name()] = true
			}
		}
		if update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name := range have {
				if _, ok := want[name]; !ok {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			for name, b := range want {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		for name := range have {
			if _, ok := want[name]; !ok {
				t.Errorf("%s/%s is no longer generated; run make fuzz-seeds", dir, name)
			}
		}
		for name, b := range want {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s/%s is missing or out of date; run make fuzz-seeds", dir, name)
			}
		}
	}
}

// sanitize keeps a seed name to [A-Za-z0-9._-].
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s)
}
