package conformance

// Untestable gives, per requirement, the reason it is not checked by a
// case (from outside, over the wire). A requirement may have cases and a
// reason when only part of it is testable; spec/COVERAGE.md shows both.
var Untestable = map[string]string{
	"SP-1-1":   "conventions: defines the RFC 2119 keywords, no behaviour",
	"SP-1-2":   "conventions: how requirements are numbered, no behaviour",
	"SP-1-3":   "about the specification and its vectors, not an implementation's behaviour",
	"SP-2-8":   "a table of constants; each limit is checked where it applies (IDs, names, batch IDs)",
	"SP-4.2-1": "the canonical bytes are internal to the fingerprint; every case that uploads checks the resulting fingerprint (SP-4.2-5)",
	"SP-5-2":   "the clock algorithm is internal; its observable effects are checked through SP-5-3 and SP-7-6",
	"SP-3-14":  "restoring or replacing a data set is an operator action outside the protocol; the reference server's backup and restore are tested in serverd, cmd/syncprint and internal/e2etest",
	"SP-6.1-7": "needs a data set that lost acknowledged versions without taking a new epoch, which a conforming server never has; serverd tests it by copying a data directory back by hand",
	"SP-11-2":  "needs the server's admin token, which the suite is not given (tokens are issued out of band)",
	"SP-11-3":  "needs the server's admin token, which the suite is not given",
	"SP-12-1":  "what a server logs is not observable over the protocol",
	"SP-12-6":  "informative: what the fingerprint does and does not protect against",
	"SP-12-7":  "how a server protects its storage and logs is not observable over the protocol",
	"SP-12-8":  "file permissions of the admin token are not observable over the protocol",

	// Client requirements without a client-mode case: they need the
	// client's internal state or its user interface, which the driver
	// contract does not expose, or a case not written yet.
	"SP-3-12":  "client: needs a non-loopback plain-HTTP server, which a local scripted server is not",
	"SP-4.1-2": "canonical form is a SHOULD for senders; server responses are checked by server/encoding/canonical-responses",
	"SP-6-2":   "client: running two sessions over one store at once is not something the driver can provoke",
	"SP-6.5-2": "client: local transactions are internal to the client",
	"SP-6.5-5": "client: a download answered missing needs a deletion racing the pull; not yet a client-mode case",
	"SP-6.6-7": "client: a MAY on how a client plans more than SegmentEntries (10,000) pending items; which plan it chose is internal, and what either plan must leave (every item uploaded, the cursor not blocked by items without a remote entry, SP-6.5-6) is what the sync cases check; clientd tests its parts with small segments",
	"SP-6.6-6": "client: when a background client starts sessions is outside the driver contract (sessions run on sync only)",
	"SP-10-5":  "client: resolving needs the client's user interface; the driver contract has no resolve request",
	"SP-10-6":  "client: resolving needs the client's user interface; the driver contract has no resolve request",
	"SP-10-9":  "client, in part: listing again after a resolution answered not_found needs a resolution, which the driver contract has no request for (clientd tests it)",
	"SP-8-4":   "client: watch behaviour of a background client is outside the driver contract",
}
