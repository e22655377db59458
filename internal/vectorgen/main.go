// Command vectorgen writes the test vectors of spec/PROTOCOL.md into a
// directory:
//
//	go run ./internal/vectorgen -out spec/vectors
//
// The vectors are computed by the reference packages (protocol, fingerprint,
// changelog, internal/reconcile); they are never edited by hand. The test in
// spec/ regenerates them and fails if the committed files differ.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/syncprint/syncprint/internal/vectorgen/gen"
)

func main() {
	out := flag.String("out", "spec/vectors", "directory to write the vectors into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "vectorgen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	files, err := gen.Files()
	if err != nil {
		return err
	}
	for name, data := range files {
		path := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
