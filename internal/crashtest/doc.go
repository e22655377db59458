// Package crashtest kills real Syncprint processes with SIGKILL and checks
// that nothing acknowledged is lost, in the manner of bbolt's kill-and-check
// robustness tests. It has no non-test code.
//
// TestServerCrash builds the syncprint binary once, runs `syncprint serve`
// on a data dir on disk behind a loopback proxy, and lets several clientd
// replicas (in the test process) edit and push while the server is killed
// at seeded random moments and restarted on the same data dir, cycle after
// cycle. After each kill the bbolt file must pass boltdb.Check (bbolt's
// tx.Check and the server's invariants), and after each restart every
// upload whose success response a client received must be on the server.
// At the end every replica holds the same items, each the last version its
// writer put.
//
// TestClientCrash does the same to a client: `syncprint client sync`
// processes are killed at random moments mid-sync: after a random number
// of the session's messages have passed the proxy in front of the server
// (which also adds latency), plus a few milliseconds, so that kills land
// in every phase however fast the machine is; every fifth sync runs to its
// end. After each kill the client store must
// pass clientd.CheckStore, and every put that returned must be either on
// the server or still pending locally; after a final sync all of them are
// on the server, each exactly once: the collection's head (its count of
// applied uploads) equals the number of puts.
//
// CI runs a few cycles of each (SYNCPRINT_CRASH_CYCLES unset). A soak:
//
//	SYNCPRINT_CRASH_CYCLES=1000 go test -run Crash -v ./internal/crashtest -timeout 3h
//
// SYNCPRINT_CRASH_SEED fixes the seed of the kill moments and edits (a
// failure prints its seed; the processes' own timing still varies).
package crashtest
