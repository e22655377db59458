// Package faulttest holds what the fault tests share, and the storage- and
// network-fault tests themselves (in its _test files).
//
// The shared part records what a client was told and reads what a server
// holds, so that a test can state "nothing acknowledged is lost":
//
//   - [Recorder] is an http.RoundTripper that sits under a clientd.Client
//     and records every upload that a complete 200 response of
//     /v1/exchange reported applied or unchanged: what the client was
//     acknowledged.
//   - [ServerItems] pulls a collection's change info (IDs, versions,
//     fingerprints) through /v1/changes with a token of its own.
//   - [CheckAcks] checks that every acknowledged upload is on the server:
//     the item's version is at least the acknowledged one, with the
//     acknowledged fingerprint when it is that version.
//
// The tests here run a real serverd on a loopback port with its real bbolt
// file and real clientd replicas. Storage faults come from
// internal/faultstore through serverd.Config.WrapStore (and, for the
// client's own store, clientd's failing-commit seam); network faults from
// internal/faultproxy between the clients and the server.
//
// CI runs a fixed subset of the fault matrix (a rotation of the network
// faults over the phases, a sample of the k values). Every combination:
//
//	SYNCPRINT_FAULT_SWEEP=full go test -race ./internal/faulttest ./clientd -run 'Fault|Faults'
package faulttest
