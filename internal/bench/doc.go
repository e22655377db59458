// Package bench is the harness of `syncprint bench`: it measures Syncprint
// and an established peer (PouchDB replicating with a PouchDB server, the
// CouchDB replication protocol) side by side, on the same workloads, on one
// machine, in one run.
//
// # What runs
//
// Everything is a real process on loopback with its store on disk:
// `syncprint serve` on a data dir, or the peer's server
// (bench/peers/pouchdb/server.js: express-pouchdb on express 4 over
// pouchdb-node); a [Proxy] in front of each server counts the bytes on
// the sockets each way; each client step is a process of its own,
// `syncprint bench-client` (clientd on a bbolt file) or the peer's runner
// (client.js: pouchdb-node on LevelDB). Harness and runners speak the
// JSON-lines contract of job.go: the runner prepares, says "ready", does
// the timed step on "go" and times only that step, and checks the outcome
// on "verify". Around the timed step the harness snapshots the proxy's
// counters and resets and reads the processes' peak RSS (VmHWM through
// /proc/PID/clear_refs), and samples their anonymous RSS.
//
// # Workloads
//
// Each workload builds a fixture once (untimed: items written and synced
// through the protocol), then for every run copies it, starts the server
// on the copy and times one client step:
//
//   - pull: Items items on the server, an empty client pulls them;
//   - push: a client pushes Items new items into an empty server (another
//     device then pulls them all to check);
//   - bidirectional: both sides hold Items items, each edits BidiEdits of
//     them, BidiCommon the same ones; the client syncs once; every
//     conflict must be decided by the system's rule with no version lost
//     (Syncprint: server-wins, the loser in the client's conflict log; the
//     peer: CouchDB's deterministic winner, the loser kept as a conflict
//     revision), checked on both sides;
//   - incremental: a collection of each of IncSizes items in sync on both
//     sides (building it is measured too: the memory of pulling a million
//     items), IncChanges changed on each side, one sync; each timed step is
//     a new client process, as an application right after it starts;
//   - incremental-warm (Syncprint, with incremental): the same sync in a
//     client process that has synced before (WarmSpec), as an application
//     that runs: its connection, heap, coders and store pages in use;
//   - many: ManyClients clients, each a user of its own with its own
//     store, edit ManyEdits items and sync every ManyInterval for
//     ManyDuration: applied items per second and session latency;
//   - many-raw (Syncprint): the same load from protocol-level clients
//     without stores, which measures the server alone.
//
// The [Report] holds every figure (median, min and max of the runs, items
// per second, bytes each way against the data's minimum, peak memory),
// the ratios against the peer, the floor of pull and push ([Floor]) and
// the targets, each met or missed; it renders as tables
// (WriteTable), JSON and an SVG chart.
//
// # Caveats
//
// The machine is shared by the servers, the clients and the harness: on
// 2 cores the many-clients workload measures the server with its 200
// clients competing for the same CPU. Times on a busy machine are noisy;
// quote ratios from one run. The peer's incremental sizes stop at
// PeerIncMax (building a million PouchDB documents takes tens of minutes
// here); the report says so.
package bench
