package conformance_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/syncprint/syncprint/conformance"
)

// These tests run the server-mode suite against our own server, the real
// binary (`syncprint serve`) on a loopback port, as make conformance does.

var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing (FuzzRenderMsgpack) needs no binary; every fuzz worker
		// runs TestMain, and the build would eat its time budget.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "syncprint-conform")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "syncprint")
	out, err := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/syncprint").CombinedOutput()
	if err != nil {
		// -race needs cgo; fall back to a plain build rather than skip.
		out, err = exec.Command("go", "build", "-o", binPath, "../cmd/syncprint").CombinedOutput()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "build syncprint: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ourServerArgs announce every rule: server-wins by default, one
// collection for each other rule.
var ourServerArgs = []string{"--default-policy", "server-wins",
	"--policy", "conform-client-wins=client-wins", "--policy", "conform-latest-wins=latest-wins", "--policy", "conform-manual=manual"}

// startServe starts `syncprint serve` on a free port with a fresh data dir
// and returns a target with tokens of user a (laptop, phone) and user b.
func startServe(t *testing.T, args ...string) conformance.Target {
	t.Helper()
	return startServeBin(t, binPath, nil, args...)
}

// startServeBin is startServe with another binary and extra environment.
func startServeBin(t *testing.T, bin string, environ []string, args ...string) conformance.Target {
	t.Helper()
	data := filepath.Join(dataRoot(t), "data")
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "error"}, args...)...)
	cmd.Env = append(os.Environ(), environ...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		url := ""
		for sc.Scan() {
			line := sc.Text()
			if _, rest, ok := strings.Cut(line, "listening on "); ok {
				url, _, _ = strings.Cut(rest, " ")
			}
			if strings.HasPrefix(line, "ready") {
				ready <- url
			}
		}
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("syncprint serve exited: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("syncprint serve did not get ready\n%s", stderr.String())
	}
	tok := func(user, device string) string {
		out, err := exec.Command(bin, "token", "create", "--data", data, "--user", user, "--device", device).Output()
		require.NoError(t, err)
		return strings.TrimSpace(string(out))
	}
	admin, err := os.ReadFile(filepath.Join(data, "admin.token"))
	require.NoError(t, err)
	return conformance.Target{URL: url, Token: tok("conform-a", "laptop"), TokenB: tok("conform-b", "phone"), TokenC: tok("conform-a", "phone"), AdminToken: strings.TrimSpace(string(admin))}
}

// knownDeviations are MUST cases our own server fails today, with why.
// The suite run skips them; TestKnownDeviationsStillFail keeps this list
// honest (a case that passes again must leave it).
var knownDeviations = map[string]string{}

func runSuite(t *testing.T, tg conformance.Target, cases []*conformance.Case) *conformance.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return conformance.RunServer(ctx, conformance.Config{Target: tg}, cases, nil)
}

func TestEveryMustCasePassesAgainstSyncprintServe(t *testing.T) {
	t.Parallel()
	tg := startServe(t, ourServerArgs...)
	var cases []*conformance.Case
	for _, c := range conformance.Select(conformance.ModeServer, nil) {
		if _, known := knownDeviations[c.ID]; !known {
			cases = append(cases, c)
		}
	}
	rep := runSuite(t, tg, cases)
	for i := range rep.Results {
		res := &rep.Results[i]
		if res.Failed(false) {
			t.Errorf("%s %s: %s\n%s", res.Verdict, res.Case.ID, res.Case.Desc, res.Details())
		}
		if res.Verdict == conformance.Skip && res.Case.Level == conformance.MUST {
			t.Errorf("%s skipped against a server that announces every rule and feature: %s", res.Case.ID, res.Reason)
		}
	}
	t.Log(rep.Summary())
}

func TestKnownDeviationsStillFail(t *testing.T) {
	t.Parallel()
	for id, why := range knownDeviations {
		t.Run(strings.ReplaceAll(id, "/", "_"), func(t *testing.T) {
			c, ok := conformance.Lookup(id)
			require.True(t, ok, "no case %s", id)
			rep := runSuite(t, startServe(t, ourServerArgs...), []*conformance.Case{c})
			require.Equal(t, conformance.Fail, rep.Results[0].Verdict,
				"%s now passes (it was listed because %s): remove it from knownDeviations", id, why)
		})
	}
}

func TestSuiteSkipsRulesTheServerDoesNotAnnounce(t *testing.T) {
	t.Parallel()
	tg := startServe(t, "--default-policy", "client-wins")
	rep := runSuite(t, tg, conformance.Select(conformance.ModeServer, []string{"server/rules/manual", "server/rules/client-wins/concurrent-edit"}))
	for _, res := range rep.Results {
		if strings.HasPrefix(res.Case.ID, "server/rules/manual/") {
			require.Equal(t, conformance.Skip, res.Verdict, res.Case.ID)
			require.Contains(t, res.Reason, "manual")
		} else {
			require.Equal(t, conformance.Pass, res.Verdict, "%s\n%s", res.Case.ID, res.Details())
		}
	}
}

func TestEveryClientCasePassesWithOurClientd(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep := conformance.RunClient(ctx, conformance.ClientConfig{Driver: binPath + " client-driver"}, conformance.Select(conformance.ModeClient, nil), nil)
	for i := range rep.Results {
		if res := &rep.Results[i]; res.Verdict != conformance.Pass {
			t.Errorf("%s %s: %s\n%s", res.Verdict, res.Case.ID, res.Reason, res.Details())
		}
	}
	t.Log(rep.Summary())
}

// A driver that answers ok to everything and does nothing must fail the
// client cases: none passes by accident.
func TestClientCasesFailWithADriverThatDoesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	driver := `while read -r line; do echo '{"ok":true}'; done`
	rep := conformance.RunClient(ctx, conformance.ClientConfig{Driver: driver}, conformance.Select(conformance.ModeClient, nil), nil)
	for _, res := range rep.Results {
		require.NotEqual(t, conformance.Pass, res.Verdict, "%s passes with a driver that does nothing", res.Case.ID)
	}
}

// dataRoot is a temporary directory for a server's data, on tmpfs when
// there is one (fsync is then free, which keeps the suite runs quick).
func dataRoot(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "syncprint-conform"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
