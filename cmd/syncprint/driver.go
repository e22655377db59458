package main

// conformClient runs the client-mode cases (see conformance/DRIVER.md).
func conformClient(e env, args []string) error {
	return usagef("conform client: client mode is not implemented yet")
}
