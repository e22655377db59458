// Command coverage regenerates spec/COVERAGE.md (requirement -> cases) and
// conformance/requirements_gen.go (the requirement texts the reports
// quote) from spec/PROTOCOL.md and the registered cases. Run it from the
// repository root:
//
//	go run ./conformance/cmd/coverage
//
// It exits 1 when a MUST requirement has neither a case nor a reason.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/syncprint/syncprint/conformance"
)

func main() {
	spec := flag.String("spec", "spec/PROTOCOL.md", "the protocol text")
	out := flag.String("out", "spec/COVERAGE.md", "the coverage table to write")
	gen := flag.String("gen", "conformance/requirements_gen.go", "the Go file of requirement texts to write")
	flag.Parse()
	problems, err := conformance.Generate(*spec, *out, *gen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coverage:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "coverage:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}
