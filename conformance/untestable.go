package conformance

// Untestable gives, per requirement, the reason it is not tested from
// outside (by a server-mode or client-mode case). A requirement may have
// cases and a reason when only part of it is testable.
var Untestable = map[string]string{}
