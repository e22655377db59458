package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func runSim(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(e, append([]string{"sim"}, args...))
	return code, out.String(), errOut.String()
}

func TestSimRunsSeedsAndSummarises(t *testing.T) {
	code, out, errOut := runSim(t, "--seed", "5", "--runs", "3", "--steps", "15", "--clients", "3", "--parallel", "2", "--dir", t.TempDir())
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "3 seed(s) from 5 passed")
	require.Contains(t, out, "seeds/s")
	require.Contains(t, out, "server versions")

	code, out, errOut = runSim(t, "--seed", "5", "--steps", "15", "--clients", "3", "--rule", "manual", "--trace", "--dir", t.TempDir())
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "seed 5 clients 3 steps 15 rules manual")
	require.Contains(t, out, "seed 5: ok, trace ")
}

func TestSimRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--rule", "newest-wins"},
		{"--clients", "9"},
		{"--runs", "0"},
		{"extra"},
	} {
		code, _, errOut := runSim(t, args...)
		require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
}
