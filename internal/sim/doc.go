// Package sim is a deterministic simulation of Syncprint in the spirit of
// FoundationDB's simulator and bbolt's simulation_test.go: one server and
// three to five clients run the real code — serverd.Server and its bbolt
// store, clientd.Client and its bbolt file, the real reconciliation — while
// a seeded PRNG drives everything around them: the clients' actions, the
// network between them, crashes and the clocks. A run is a function of its
// Config: the same seed replays the same run, and a failure prints the
// command that does it.
//
// # What is real, what is simulated
//
// Real: the server (serverd.Open on a data directory, its handler, its
// bbolt file, its idempotency records, its HLC clock and skew clamp), the
// clients (clientd.Open on a bbolt file each, Put, Delete, Sync, Resolve,
// Conflicts), and every byte of every request and response, in the
// content codings they negotiate (a quarter of the seeds write contents
// large enough for bodies to be encoded).
//
// Simulated:
//   - Time. The server's wall clock (serverd.Config.Now) is virtual time,
//     which the scheduler advances between steps and the network advances
//     when it delays a request. Each client's wall clock
//     (clientd.Config.Now) is virtual time plus a skew of up to one hour
//     either way, drawn again whenever the client restarts and now and
//     then while it runs (a clock set backwards or forwards); it is frozen
//     for the length of one client operation.
//   - The network. Every client's clientd.Config.HTTPClient carries a
//     transport that hands each request to the server in-process
//     (serverd.Server.RoundTrip, the fasthttp handler on the caller's
//     goroutine), after deciding from the PRNG to lose it, lose its answer
//     after the server applied it, delay it, deliver it twice, keep a copy
//     that arrives later after other requests (a stray), let the client
//     give up on it while it arrives later anyway, refuse it (the client is
//     partitioned, the server is down), restart the server after applying
//     it and before answering, or crash the client (before sending or
//     after the answer). While a request is in transit, other actors may
//     take steps (other clients sync or resolve, any client writes), so
//     the server changes under a session and the app edits while its sync
//     runs.
//   - Crashes. A server crash shuts the server down and opens it again on
//     the same data directory (between requests, or after applying a
//     request and before answering it), sometimes staying down for a few
//     steps. A client crash abandons the operation in flight (its context
//     is cancelled and every further request fails) and reopens the bbolt
//     file: what the client committed survives, the session does not.
//   - The actors. Each step picks a client and an action: put new content
//     (unique to the write) to one of four overlapping item IDs of one of
//     four collections, one per precedence rule (sw server-wins, cw
//     client-wins, lw latest-wins, man manual); delete a live item; sync;
//     resolve the records of one conflicted item (keep the current version,
//     use a recorded one, write new content, delete); or a fault.
//
// Each seed draws the server's limits, small (1 to 4 uploads per batch,
// pages of 1 to 5, 1 to 4 IDs per request, and in half the seeds a
// max_batch_bytes of a few dozen bytes, which defers downloads to later
// rounds) so that sessions take several batches, pages and rounds; a
// fault profile (no faults, light or heavy); and whether exchanges are
// pipelined (see Determinism).
//
// # Determinism
//
// One goroutine, the scheduler, runs every step to its end: a client's
// Sync or Resolve runs on it, its requests reach the transport and the
// server's handler on it, so every PRNG draw and every server transaction
// happens in an order the seed fixes. Time is virtual. Two things run
// elsewhere, and neither can change the outcome:
//   - clientd pipelines exchanges one deep: a response's local transaction
//     runs on its own goroutine while the session sends the next request.
//     That transaction touches only items of its own batch (the next
//     batch's are others), reads the client's clock, which no step changes
//     while the client's request is in transit (steps that are not the
//     client's own leave its clock alone), and is joined before the
//     session does anything else with the store, so it commits the same
//     either way. When an interleaved step writes to the store of the
//     client whose sync is in flight, or sets its clock, the order would
//     matter: such steps are taken only in seeds that set
//     clientd.Config.SerialExchanges (half of them), which turns the
//     pipelining off.
//   - clientd requests change-info pages ahead on other goroutines while
//     it works locally; there the transport would run other actors' steps
//     beside the scheduler, so the simulation turns it off
//     (clientd.Config.NoPrefetch) and every request goes on the scheduler.
//   - clientd waits between retries on a real timer (a nanosecond here)
//     with jitter from math/rand: it changes how long it sleeps, never
//     what it sends.
//
// Random values the code draws from crypto/rand — batch IDs, conflict
// IDs, the epoch, the cursor secret, tokens — differ between runs of a
// seed. The run never decides anything on them (conflicts are listed and
// picked in an order of their content), and the trace, whose SHA-256 is
// Result.TraceHash, leaves them out. TestSimIsDeterministic runs seeds
// twice and compares the traces.
//
// # What is checked
//
// After the steps, the faults heal: the late and stray requests still in
// flight arrive, and every client syncs, pass after pass, until a whole
// pass uploads, downloads and conflicts nothing (at most 10 passes). The
// history recorded during the run — every write a client acknowledged
// (Put, Delete, Resolve returned nil), and every version and conflict
// record the server committed, through a serverd.Config.WrapStore wrapper
// that sees each transaction's writes and whether it committed — is then
// checked, Jepsen style:
//   - Convergence: every client holds exactly the server's live items,
//     with equal contents, fingerprints and versions, nothing pending, and
//     lists exactly the server's open conflict records.
//   - No loss: every acknowledged write is the current version of its
//     item; or is held by a server conflict record (open, or closed by a
//     resolution: the user chose); or by a client's local conflict log
//     (or was, until a successful Resolve closed it); or was superseded —
//     some acknowledged write was made on a replica whose current version
//     of the item it was (the user replaced what they saw), or it is a
//     resolution and the same device edited the item while it was in
//     flight (the edit follows it, SP-10-6); or is a
//     deletion that reached the server (a replaced tombstone is not kept,
//     SP-7-7). Anything else is a lost write.
//   - Where losers are kept (SP-7-7): server records only under
//     client-wins and latest-wins (reason overwritten) and manual (reason
//     manual); local conflict-log entries of losers only under
//     server-wins and latest-wins (a pending edit that a resolution
//     replaced is logged under every rule, SP-10-6).
//   - Nothing made up: every version, record and log entry anywhere holds
//     a fingerprint some client wrote, with content that matches it.
//   - No double apply: the versions and records of each exchange (batch
//     ID) come from one delivery of it, however often it was delivered;
//     and a manual record keeps one losing upload (the same version by the
//     same replica against the same server version is not kept twice while
//     the first record is open, even when it is sent again from another
//     batch after its answer was lost).
//   - The server's verdicts, as they happen: every upload's status
//     (applied, unchanged, stale, rejected, conflict) is derived again
//     from the decision table (SP-6.3-5, SP-7-5) and the item's version
//     when the request arrived, with latest-wins' skew clamp, and compared
//     with the server's answer (a repeated batch, answered from its
//     idempotency record, is not judged again).
//   - The rules, replayed over each item's server history: every applied
//     upload saw the version it replaced; one that did not derive from it
//     replaced it only under client-wins, or under latest-wins with the
//     greater (HLC, replica), and kept it as an overwritten record unless
//     it was a tombstone; under server-wins and manual never; and a
//     fast-forward's HLC is greater than its base's (the clock observed
//     what it derived from).
//
// # Not covered
//
// The background loop (Client.Start), the watch long-poll and the rate
// limiter are not run: the scheduler calls Sync itself. Storage faults
// (a failing write or fsync, a torn page) are not injected: a crash loses
// exactly what was not committed, at a transaction boundary. The pipelined
// transaction of a client that crashes is always committed first. Cursor
// expiry (a restored data set) and idempotency records older than their
// retention are not reached. A client "crash" cancels the operation, which
// may still store what its error path stores (an exchange kept for
// sending again, uploads marked in doubt); a killed process would not,
// and internal/crashtest covers that with real processes. A write applied
// whose answer was lost, if the client kept no record of its exchange
// (SP-6.4-5 is best effort), and someone else wrote the item before the
// client's next session, is uploaded again from a new batch: the server
// applies it a second time (Stats.Reapplied counts these: the old write
// replaces the newer one under client-wins, and under latest-wins when its
// clock ran ahead and the retry is clamped to the server's now; an
// overwritten record keeps the newer one, so nothing is lost). Until seed
// 10177453 showed it, a session whose kept exchange again got no answer
// planned its uploads anew and did that too; it now ends there.
// Items a client learnt of from the change info with its own fingerprint
// keep the HLC and author it stamped, which the server may have clamped
// (Stats.MetadataDiffs); contents, fingerprints and versions converge.
//
// # Running it
//
//	go test ./internal/sim                      # CI's budget of seeds
//	go test ./internal/sim -run 'TestSim$' -v -sim.seed N   # one seed, with its trace
//	go run ./cmd/syncprint sim --seed 1 --runs 100000 --dir /dev/shm --parallel 2   # a soak
package sim
