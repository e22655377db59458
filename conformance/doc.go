// Package conformance is the Syncprint conformance suite: black-box cases
// that check any implementation of the protocol (spec/PROTOCOL.md) over
// HTTP, the way h2spec checks HTTP/2 servers.
//
// It owns the case registry, the runner and the reports. Every case has a
// stable semantic ID (for example "server/exchange/stale-base-upload") that
// is never renumbered or reused, a requirement level (MUST, SHOULD, MAY),
// the requirement IDs it checks, a one-line description and a procedure
// (what it does and what it asserts, printed by `syncprint conform explain`).
//
// Walkthrough:
//
//	cases := conformance.Select(conformance.ModeServer, nil)
//	rep := conformance.Run(ctx, conformance.Config{Target: target}, cases, progress)
//	rep.WriteJUnit(w); rep.WriteJSON(w)
//	if !rep.OK(strict) { ... }
//
// A case reaches a verdict: PASS, FAIL (the implementation violates the
// requirement: the report carries the requirement text, what was expected,
// what was seen and the decoded request/response transcript), SKIP (with a
// reason, for example a precedence rule the server does not announce) or
// ERROR (the harness itself failed, for example the server could not be
// reached; kept apart from FAIL).
//
// Server mode runs every case in its own random namespace: a fresh random
// collection when the collection's rule does not matter, or a random item
// ID prefix inside a collection the server announces with the rule the case
// needs. It can therefore run against a shared staging server, with two
// caveats: the watch cases assume that no other device of the same user
// writes while they wait, and the size-limit cases send bodies as large as
// the announced limits.
//
// Client mode (RunClient) starts, per case, a scripted server (a small
// server-wins implementation that records every request and lets the case
// replace any answer) and a driver of the client under test, spoken to in
// JSON lines as DRIVER.md describes.
//
// The suite tests itself (the _test files): every server case must fail
// against a designated mutant, our real server behind a faulty proxy that
// exists only in the tests (it ignores the rule, skips fingerprint checks,
// applies stale uploads, leaks another user's items, double-applies
// retries, answers wrong codes, ...); the fault switches compiled into our
// server only with -tags syncprint_mutants (serverd/faults_mutants.go) must
// each make their cases fail; every client case must fail against
// a client mutant (our clientd behind a faulty proxy) and against a driver
// that does nothing; and the whole suite must pass against `syncprint
// serve` and our clientd, except the deviations of our server listed in
// serve_test.go.
//
// The package never imports serverd or clientd (.ci/deps-check enforces
// it); it may import protocol, fingerprint and changelog, which define the
// wire format rather than an implementation.
package conformance
