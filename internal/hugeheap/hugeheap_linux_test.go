package hugeheap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// childEnv makes the test binary a child that grows its heap and reports
// (see TestMain): the heap must be a fresh process's.
const childEnv = "HUGEHEAP_TEST_CHILD"

// childReport is what a child prints.
type childReport struct {
	Result   Result
	Err      string
	Faults   int64 // minor faults while it wrote its heap
	HugeKiB  int64 // AnonHugePages of the process afterwards
	GrownMiB int
}

func TestMain(m *testing.M) {
	if how := os.Getenv(childEnv); how != "" {
		os.Exit(child(how))
	}
	os.Exit(m.Run())
}

var sink [][]byte

// child advises (how "advise") or not ("plain"), then allocates and
// writes 24 MiB in pieces of 64 KiB, kept live, as a process's heap grows.
func child(how string) int {
	var rep childReport
	if how == "advise" {
		res, err := Advise(DefaultReserve)
		rep.Result = res
		if err != nil {
			rep.Err = err.Error()
		}
	}
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	const piece = 64 << 10
	rep.GrownMiB = 24
	for range rep.GrownMiB << 20 / piece {
		b := make([]byte, piece)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		sink = append(sink, b)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	rep.Faults = after.Minflt - before.Minflt
	rep.HugeKiB = anonHugeKiB()
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// anonHugeKiB returns AnonHugePages of /proc/self/smaps_rollup.
func anonHugeKiB() int64 {
	b, _ := os.ReadFile("/proc/self/smaps_rollup")
	_, rest, ok := bytes.Cut(b, []byte("\nAnonHugePages:"))
	if !ok {
		return -1
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	n, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(line), []byte(" kB"))), 10, 64)
	return n
}

func runChild(t *testing.T, how string, env ...string) childReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+how), env...)
	out, err := cmd.Output()
	require.NoError(t, err, "child %s", how)
	var rep childReport
	require.NoError(t, json.Unmarshal(out, &rep), "child %s: %s", how, out)
	return rep
}

// TestAnAdvisedHeapGrowsIntoHugePagesWithFarFewerFaults: in a new process
// whose kernel leaves huge pages to it, Advise makes the heap that the
// process then grows (24 MiB) huge pages, and writing it costs a fraction
// of the faults of the same process without advice. Under the other modes
// Advise does nothing and says why; GODEBUG=disablethp=1 turns it off.
func TestAnAdvisedHeapGrowsIntoHugePagesWithFarFewerFaults(t *testing.T) {
	mode := Mode()
	t.Logf("kernel mode %q", mode)
	plain := runChild(t, "plain")
	advised := runChild(t, "advise")
	t.Logf("24 MiB of heap written: %d faults, %d KiB huge plain; %d faults, %d KiB huge advised (%+v)",
		plain.Faults, plain.HugeKiB, advised.Faults, advised.HugeKiB, advised.Result)
	require.Empty(t, advised.Err)
	require.Equal(t, mode, advised.Result.Mode)
	switch mode {
	case "madvise":
		require.GreaterOrEqual(t, advised.Result.Advised, DefaultReserve, "the reserve's mapping is advised")
		require.Empty(t, advised.Result.Skipped)
		require.Zero(t, plain.HugeKiB, "no advice, no huge pages in mode madvise")
		require.GreaterOrEqual(t, advised.HugeKiB, int64(8<<10), "most of the grown heap is huge pages")
		// Two thirds or more of the 6,144 faults of 24 MiB in 4 KiB pages
		// are spared (counted as a difference: the race detector's shadow
		// memory, not advised, adds faults to both).
		heapPages := int64(plain.GrownMiB << 20 / 4096)
		require.GreaterOrEqual(t, plain.Faults-advised.Faults, heapPages*2/3, "faults spared")

		off := runChild(t, "advise", "GODEBUG=disablethp=1")
		require.Zero(t, off.Result.Advised)
		require.Equal(t, "GODEBUG=disablethp=1", off.Result.Skipped)
		require.Zero(t, off.HugeKiB)
	case "always":
		require.Zero(t, advised.Result.Advised)
		require.Contains(t, advised.Result.Skipped, "mode always")
	default:
		require.Zero(t, advised.Result.Advised)
		require.NotEmpty(t, advised.Result.Skipped)
		require.Zero(t, advised.HugeKiB)
	}
}

func TestParseModeAndGODEBUG(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never\n": "madvise",
		"[always] madvise never\n": "always",
		"always madvise [never]\n": "never",
		"garbage\n":                "",
		"[unterminated":            "",
	} {
		require.Equal(t, want, parseMode([]byte(in)), in)
	}
	for in, want := range map[string]bool{
		"": false, "disablethp=1": true, "gctrace=1,disablethp=1": true, "disablethp=0": false,
		"disablethp=1,disablethp=0": false, "disablethp=x": false, " disablethp=2 ": true,
	} {
		require.Equal(t, want, disabledByGODEBUG(in), in)
	}
}

func TestHeapMappingsAreTheWritableAnonymousOnesOverlappingTheRange(t *testing.T) {
	maps := []byte(`00400000-00c00000 r-xp 00000000 fe:00 123 /usr/bin/syncprint
c000000000-c000400000 rw-p 00000000 00:00 0 
c000400000-c004000000 ---p 00000000 00:00 0 
c004000000-c006000000 rw-p 00000000 00:00 0                          [anon: Go: heap]
c006000000-c008000000 rw-p 00000000 00:00 0 
7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
7f0000100000-7f0000200000 rw-s 00000000 fe:00 77 /data/store.db
`)
	got := heapMappings(maps, 0xc000100000, 0xc005000000)
	require.Equal(t, []mapping{{0xc000000000, 0xc000400000}, {0xc004000000, 0xc006000000}}, got)
	require.Empty(t, heapMappings(maps, 0x7f0000100000, 0x7f0000200000), "a shared file mapping is not heap")
	require.Equal(t, fmt.Sprint([]mapping{{0x7f0000000000, 0x7f0000100000}}), fmt.Sprint(heapMappings(maps, 0x7f0000000000, 0x7f0000000001)))
}
