package conformance

// CT is what a client-mode case works with (client mode: a scripted server
// drives a client under test through the driver contract of DRIVER.md).
type CT struct {
	T
}
