package sim

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/protocol"
)

// Flags for replaying a seed (a failure prints the line) and for longer
// runs than CI's budget:
//
//	go test ./internal/sim -run 'TestSim$' -v -sim.seed 85 -sim.clients 5 -sim.steps 120 -sim.rule all
//	go test ./internal/sim -run 'TestSim$' -sim.seeds 1000
var (
	flagSeed    = flag.Uint64("sim.seed", 0, "run only this seed, with its trace under -v")
	flagSeeds   = flag.Int("sim.seeds", 0, "run this many seeds from 1 instead of the CI budget")
	flagClients = flag.Int("sim.clients", 0, "client replicas (0: drawn from the seed)")
	flagSteps   = flag.Int("sim.steps", 0, "actor steps per seed (0: DefaultSteps)")
	flagRule    = flag.String("sim.rule", "all", "precedence rules: all or a comma-separated list")
)

// ciSeeds is the CI budget: under -race a seed takes one to two seconds
// of CPU, and the package's tests about 35 s of CPU in all.
const ciSeeds = 12

// TestSim runs a fixed budget of seeds: every rule, 3 to 5 clients, every
// fault. A failure names its seed and the command that replays it.
func TestSim(t *testing.T) {
	rules, err := ParseRules(*flagRule)
	require.NoError(t, err)
	first, n := uint64(1), ciSeeds
	if *flagSeeds > 0 {
		n = *flagSeeds
	}
	if *flagSeed != 0 {
		first, n = *flagSeed, 1
	}
	var total Stats
	for seed := first; seed < first+uint64(n); seed++ {
		cfg := Config{Seed: seed, Clients: *flagClients, Steps: *flagSteps, Rules: rules, Dir: t.TempDir()}
		if testing.Verbose() && n == 1 {
			cfg.Trace = os.Stdout
		}
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		total.Add(res.Stats)
	}
	t.Logf("%d seeds from %d:\n%s", n, first, total)
	// The budget must exercise what it claims to.
	if *flagSeed == 0 {
		for what, n := range map[string]int{
			"lost requests": total.DroppedRequests, "lost responses": total.DroppedResponses, "duplicates": total.Duplicated,
			"late requests": total.Late, "strays": total.Strays, "partitions": total.Partitions,
			"server restarts": total.ServerCrashes, "client restarts": total.ClientCrashes, "resolutions": total.Resolves,
			"server records": total.ServerRecords, "local records": total.LocalRecords, "deletes": total.Deletes,
		} {
			require.NotZero(t, n, "no %s in the budget", what)
		}
	}
}

// foundBugs are seeds that a soak found failing, with the draws that
// failed, each fixed since: they run in every test run, beside the budget.
var foundBugs = []struct {
	seed    uint64
	clients int
	why     string
}{
	{8012471, 4, "a resolution's put.seen named a version the device never held (SP-10-5)"},
}

// TestSimSeedsThatFoundBugs replays the seeds of foundBugs.
func TestSimSeedsThatFoundBugs(t *testing.T) {
	for _, b := range foundBugs {
		_, err := Run(Config{Seed: b.seed, Clients: b.clients, Steps: DefaultSteps, Dir: t.TempDir()}) // nil Rules: all
		require.NoError(t, err, "seed %d: %s", b.seed, b.why)
	}
}

// TestSimIsDeterministic runs seeds twice: the traces must be equal (the
// network's faults, every request and answer, every client's report and
// the final state), and differ between seeds.
func TestSimIsDeterministic(t *testing.T) {
	seeds := []uint64{7, 42}
	hashes := map[string]uint64{}
	for _, seed := range seeds {
		var trace1, trace2 strings.Builder
		a, err := Run(Config{Seed: seed, Dir: t.TempDir(), Trace: &trace1})
		require.NoError(t, err)
		b, err := Run(Config{Seed: seed, Dir: t.TempDir(), Trace: &trace2})
		require.NoError(t, err)
		if a.TraceHash != b.TraceHash {
			require.Equal(t, trace1.String(), trace2.String(), "seed %d: two runs differ", seed)
		}
		// Whether a small body goes compressed depends on its compressed
		// size (coding.Pays), which the random batch IDs in it move by a
		// byte now and then: the count of encoded bodies is the one figure
		// that may differ. Every other one must not.
		require.InDelta(t, a.Stats.Encoded, b.Stats.Encoded, float64(a.Stats.Requests)/20, "seed %d: encoded bodies", seed)
		a.Stats.Encoded, b.Stats.Encoded = 0, 0
		require.Equal(t, a.Stats, b.Stats)
		prev, dup := hashes[a.TraceHash]
		require.False(t, dup, "seeds %d and %d have one trace", prev, seed)
		hashes[a.TraceHash] = seed

		// The replay command gives what the seed drew: the same run.
		c, err := Run(Config{Seed: seed, Clients: a.Config.Clients, Steps: a.Config.Steps, Rules: a.Config.Rules, Dir: t.TempDir()})
		require.NoError(t, err)
		require.Equal(t, a.TraceHash, c.TraceHash, "seed %d replayed with its config", seed)
	}
}

func TestSimConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flag  string
		rules []protocol.Rule
		bad   bool
	}{
		{name: "all means every rule", flag: "all"},
		{name: "empty means every rule", flag: ""},
		{name: "a list is kept in order without repeats", flag: "manual, latest-wins,manual", rules: []protocol.Rule{protocol.Manual, protocol.LatestWins}},
		{name: "an unknown rule is refused", flag: "newest-wins", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := ParseRules(tc.flag)
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.rules, rules)
		})
	}

	_, err := Run(Config{Seed: 1, Clients: 30, Dir: t.TempDir()})
	require.Error(t, err)
	var f *Failure
	require.False(t, errors.As(err, &f), "a bad config is not a failing seed")

	res, err := Run(Config{Seed: 9, Clients: 3, Steps: 10, Rules: []protocol.Rule{protocol.Manual}, Dir: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, 3, res.Config.Clients)
	require.Equal(t, 10, res.Config.Steps)
	require.Equal(t, "go run ./cmd/syncprint sim --seed 9 --runs 1 --clients 3 --steps 10 --rule manual --trace", ReplayCommand(res.Config))
}
