package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syncprint/syncprint/internal/sim"
)

const simUsage = "syncprint sim [--seed N] [--runs M] [--clients K] [--steps S] [--rule R[,R]] [--dir DIR] [--parallel P] [--trace]"

// cmdSim runs the deterministic simulation (package internal/sim) for the
// seeds N to N+M-1 and stops at the first failure, printing its seed and
// the command that replays it.
func cmdSim(e env, args []string) error {
	fs := newFlags("sim", simUsage, e.stderr)
	seed := fs.Uint64("seed", 1, "first seed")
	runs := fs.Int("runs", 1, "number of seeds to run: seed, seed+1, ...")
	clients := fs.Int("clients", 0, fmt.Sprintf("client replicas, %d to %d (0: drawn from each seed)", sim.MinClients, sim.MaxClients))
	steps := fs.Int("steps", sim.DefaultSteps, "actor steps under faults per seed")
	rule := fs.String("rule", "all", "precedence rules to cover: all, or a comma-separated list of server-wins, client-wins, latest-wins, manual")
	dir := fs.String("dir", "", "directory for the runs' bbolt files (default: $TMPDIR; a tmpfs such as /dev/shm is much faster)")
	parallel := fs.Int("parallel", 1, "seeds run at once")
	trace := fs.Bool("trace", false, "print every run's trace (meant for --runs 1)")
	every := fs.Duration("progress", 10*time.Second, "how often to print progress (0: never)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("sim: unexpected argument %q", fs.Arg(0))
	}
	rules, err := sim.ParseRules(*rule)
	if err != nil {
		return usagef("sim: --rule: %v", err)
	}
	if *runs < 1 || *parallel < 1 || *steps < 0 || *clients != 0 && (*clients < sim.MinClients || *clients > sim.MaxClients) {
		return usagef("sim: want --runs >= 1, --parallel >= 1, --steps >= 0, --clients 0 or %d to %d", sim.MinClients, sim.MaxClients)
	}

	start := time.Now()
	type outcome struct {
		seed uint64
		res  sim.Result
		err  error
	}
	seeds := make(chan uint64)
	results := make(chan outcome)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range *parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range seeds {
				cfg := sim.Config{Seed: s, Clients: *clients, Steps: *steps, Rules: rules, Dir: *dir}
				if *trace {
					cfg.Trace = e.stdout
				}
				res, err := sim.Run(cfg)
				results <- outcome{s, res, err}
			}
		}()
	}
	go func() {
		defer close(seeds)
		for s := *seed; s < *seed+uint64(*runs); s++ {
			select {
			case seeds <- s:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var total sim.Stats
	// Seeds whose runs reapplied a write from another batch (not a
	// failure, see the sim package doc) are named, up to maxListed, to
	// replay with --trace.
	const maxListed = 20
	listed := 0
	var failure error
	done := 0
	lastReport := start
	for o := range results {
		if o.err != nil {
			if failure == nil {
				failure = o.err
				close(stop)
			}
			continue
		}
		done++
		total.Add(o.res.Stats)
		if o.res.Stats.Reapplied > 0 && listed < maxListed {
			listed++
			fmt.Fprintf(e.stdout, "seed %d: %d write(s) reapplied from another batch (not a failure; replay with --seed %d --runs 1 --trace)\n", o.seed, o.res.Stats.Reapplied, o.seed)
		}
		if *trace {
			fmt.Fprintf(e.stdout, "seed %d: ok, trace %s\n", o.seed, o.res.TraceHash)
		}
		if *every > 0 && time.Since(lastReport) >= *every {
			lastReport = time.Now()
			el := time.Since(start)
			fmt.Fprintf(e.stdout, "%d/%d seeds ok in %s (%.1f seeds/s)\n", done, *runs, el.Round(time.Second), float64(done)/el.Seconds())
		}
	}
	el := time.Since(start)
	fmt.Fprintf(e.stdout, "%d seed(s) from %d passed in %s (%.1f seeds/s)\n%s\n", done, *seed, el.Round(time.Millisecond), float64(done)/el.Seconds(), total)
	if failure != nil {
		var f *sim.Failure
		if !errors.As(failure, &f) {
			return fmt.Errorf("sim: %w", failure)
		}
		return exitError{code: exitFailure, err: failure}
	}
	return nil
}
