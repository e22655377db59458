// Package e2etest holds end-to-end tests of Syncprint: a real serverd on a
// loopback port with a real bbolt file, and several real clientd replicas
// with their own bbolt files, making seeded random concurrent edits. It has
// no non-test code.
package e2etest
