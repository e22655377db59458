package conformance_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/conformance"
)

func specRequirements(t *testing.T) []conformance.Requirement {
	t.Helper()
	md, err := os.ReadFile("../spec/PROTOCOL.md")
	require.NoError(t, err)
	reqs := conformance.ParseRequirements(md)
	require.NotEmpty(t, reqs)
	return reqs
}

func TestEveryMustRequirementHasACaseOrAReason(t *testing.T) {
	problems := conformance.NewCoverage(specRequirements(t)).Problems()
	require.Empty(t, problems, "give each a case or a reason in conformance/untestable.go, then run go run ./conformance/cmd/coverage")
}

func TestCoverageTableAndRequirementTextsAreUpToDate(t *testing.T) {
	reqs := specRequirements(t)
	dir := t.TempDir()
	_, err := conformance.Generate("../spec/PROTOCOL.md", filepath.Join(dir, "COVERAGE.md"), filepath.Join(dir, "gen.go"))
	require.NoError(t, err)
	for _, f := range []struct{ generated, committed string }{
		{filepath.Join(dir, "COVERAGE.md"), "../spec/COVERAGE.md"},
		{filepath.Join(dir, "gen.go"), "requirements_gen.go"},
	} {
		want, err := os.ReadFile(f.generated)
		require.NoError(t, err)
		got, err := os.ReadFile(f.committed)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "%s is stale: run go run ./conformance/cmd/coverage from the repository root", f.committed)
	}
	require.Equal(t, len(reqs), len(conformance.Requirements()))
}

func TestCasesAreWellFormed(t *testing.T) {
	known := map[string]conformance.Requirement{}
	for _, r := range specRequirements(t) {
		known[r.ID] = r
	}
	seen := map[string]bool{}
	for _, c := range conformance.Cases() {
		require.False(t, seen[c.ID], "case %s twice", c.ID)
		seen[c.ID] = true
		for _, r := range c.Reqs {
			_, ok := known[r]
			require.True(t, ok, "case %s cites %s, which PROTOCOL.md does not define", c.ID, r)
		}
		require.NotContains(t, c.Procedure, "\t", "case %s: procedure not dedented", c.ID)
	}
	require.Greater(t, len(conformance.Select(conformance.ModeServer, nil)), 50)
}

func TestRequirementLevelsAreParsed(t *testing.T) {
	byID := map[string]conformance.Requirement{}
	for _, r := range specRequirements(t) {
		byID[r.ID] = r
	}
	require.Equal(t, conformance.Level(""), byID["SP-1-1"].Level, "quoted keywords do not count")
	require.Equal(t, conformance.MUST, byID["SP-6.3-2"].Level)
	require.Equal(t, conformance.SHOULD, byID["SP-6.6-6"].Level)
	require.Contains(t, byID["SP-6.4-1"].Text, "batch_id")
}
