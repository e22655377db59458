package conformance_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/conformance"
)

// Fault switches inside our server (serverd/faults_mutants.go), compiled
// only with the syncprint_mutants build tag: each makes the server break
// one requirement, and the cases named here must fail against it. The
// proxy mutants of mutants_test.go cover every case; these check that the
// suite also catches the faults where they really happen, in the server.
var serverFaults = map[string][]string{
	"skip-fingerprint-check": {"server/exchange/fingerprint-mismatch"},
	"ignore-rule":            {"server/rules/server-wins/concurrent-edit", "server/rules/manual/concurrent-edit", "server/rules/latest-wins/concurrent-edit-server-later"},
	"apply-stale":            {"server/exchange/stale-base-upload"},
	"double-apply-retry":     {"server/exchange/idempotent-retry", "server/exchange/batch-id-reused"},
	"shared-namespace":       {"server/isolation/items-invisible", "server/changes/invalid-cursor"},
	"wrong-codes":            {"server/validate/item-ids"},
	"deaf-watch":             {"server/watch/wakes-on-write"},
	"decode-without-limit":   {"server/coding/decoded-size-limit"},
	"resolve-replay-off":     {"server/conflicts/resolve-batch-replay"},
}

func TestServerFaultSwitchesAreCaught(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	faulty := filepath.Join(dir, "syncprint-mutants")
	out, err := exec.Command("go", "build", "-tags", "syncprint_mutants", "-o", faulty, "../cmd/syncprint").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range sortedNames(serverFaults) {
		ids := serverFaults[name]
		t.Run(name, func(t *testing.T) {
			tg := startServeBin(t, faulty, []string{"SYNCPRINT_FAULT=" + name}, ourServerArgs...)
			var cases []*conformance.Case
			for _, id := range ids {
				c, ok := conformance.Lookup(id)
				require.True(t, ok, id)
				cases = append(cases, c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep := conformance.RunServer(ctx, conformance.Config{Target: tg, CaseTimeout: 30 * time.Second}, cases, nil)
			for _, res := range rep.Results {
				require.Equal(t, conformance.Fail, res.Verdict, "%s against fault %s\n%s", res.Case.ID, name, res.Details())
			}
		})
	}
}

func TestTheDefaultBuildHasNoFaultSwitches(t *testing.T) {
	b, err := os.ReadFile(binPath)
	require.NoError(t, err)
	require.False(t, bytes.Contains(b, []byte("SYNCPRINT_FAULT")), "the default build must not read SYNCPRINT_FAULT")
	require.False(t, strings.Contains(string(b), "skip-fingerprint-check"))
}
