package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of process handling.
const (
	serverStartTimeout = 60 * time.Second
	serverStopTimeout  = 60 * time.Second
	sampleEvery        = 10 * time.Millisecond
)

// serverProc is a running server process behind a byte-counting proxy.
type serverProc struct {
	cmd   *exec.Cmd
	addr  string // the server's own address (host:port), behind the proxy
	proxy *Proxy
	log   *os.File
	done  chan error // receives the process's exit once
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// url is the proxy's URL: every client talks to the server through it.
func (s *serverProc) url() string { return s.proxy.URL() }

// startServer starts argv, whose standard output (copied to logPath) must
// announce the listening address on a line that ready parses, and puts a
// proxy in front of it.
func startServer(ctx context.Context, argv []string, dir, logPath string, ready func(line string) (addr string, ok bool)) (*serverProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	s := &serverProc{cmd: cmd, log: logf, done: make(chan error, 1)}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !found {
				if addr, ok := ready(line); ok {
					found = true
					addrCh <- addr
				}
			}
		}
		close(addrCh)
		s.done <- cmd.Wait()
	}()
	var addr string
	select {
	case a, ok := <-addrCh:
		if !ok {
			err := <-s.done
			logf.Close()
			return nil, fmt.Errorf("server %s exited before it listened (%v): %s", argv[0], err, tail(logPath))
		}
		addr = a
	case <-time.After(serverStartTimeout):
		s.kill()
		return nil, fmt.Errorf("server %s did not listen within %s: %s", argv[0], serverStartTimeout, tail(logPath))
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
	s.addr = addr
	if s.proxy, err = StartProxy(addr); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

func (s *serverProc) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
	s.log.Close()
	if s.proxy != nil {
		_ = s.proxy.Close()
	}
}

// warm sends GET requests for paths straight to the server (not through
// the proxy: the bytes are not counted), as a server that has been running
// a while has answered such requests already.
func (s *serverProc) warm(ctx context.Context, paths ...string) error {
	for _, p := range paths {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+p, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("warm up %s: %w", p, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	return nil
}

// stop asks the server to stop (SIGTERM), waits for it, and closes the
// proxy.
func (s *serverProc) stop() error {
	_ = s.proxy.Close()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.log.Close()
		if err != nil {
			return fmt.Errorf("server exited: %v: %s", err, tail(s.log.Name()))
		}
		return nil
	case <-time.After(serverStopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.log.Close()
		return fmt.Errorf("server did not stop within %s", serverStopTimeout)
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// memStatus is a process's memory from /proc/PID/status, in bytes.
type memStatus struct {
	HWM, RSS, Anon int64
}

func readStatus(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	var m memStatus
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmHWM":
			dst = &m.HWM
		case "VmRSS":
			dst = &m.RSS
		case "RssAnon":
			dst = &m.Anon
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			*dst = n << 10
		}
	}
	return m, nil
}

// cpuTime returns the CPU time a process's threads have run, summed from
// /proc/PID/task/*/schedstat (nanoseconds; a thread that exits between two
// readings takes its share with it, which Go and node threads rarely do).
func cpuTime(pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return time.Duration(sum)
}

// minorFaults returns the page faults a process has taken without reading
// from disk (/proc/PID/stat, field 10): first touches of its memory and of
// mapped pages already in the page cache. 0 if it cannot be read.
func minorFaults(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it
	// follow its closing parenthesis: state is field 3, minflt field 10.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64)
	return n
}

// resetPeak resets a process's peak RSS (VmHWM) to its current RSS
// (writing 5 to /proc/PID/clear_refs, Linux 4.0+); false if it cannot.
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// sampler polls processes' /proc/PID/status and keeps the greatest
// anonymous RSS seen (the kernel keeps no peak of it).
type sampler struct {
	pids []int
	stop chan struct{}
	wg   sync.WaitGroup
	anon []int64 // per pid; written by the polling goroutine until stop
}

func startSampler(pids ...int) *sampler {
	s := &sampler{pids: pids, stop: make(chan struct{}), anon: make([]int64, len(pids))}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			for k, pid := range s.pids {
				if m, err := readStatus(pid); err == nil && m.Anon > s.anon[k] {
					s.anon[k] = m.Anon
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops polling and returns the peak anonymous RSS per pid.
func (s *sampler) finish() []int64 {
	close(s.stop)
	s.wg.Wait()
	return s.anon
}

// stepFigures are what the harness measured around one client step.
type stepFigures struct {
	Timed    Message
	Verified *Message
	// Up and Down are the wire bytes during the timed step.
	Up, Down int64
	// Conns counts the TCP connections opened during the timed step.
	Conns int64
	// ClientPeak and ServerPeak are the peak RSS during the timed step
	// (VmHWM, reset when the step started); *Anon the sampled peak of
	// anonymous memory (without the store files' mapped pages).
	ClientPeak, ServerPeak         int64
	ClientPeakAnon, ServerPeakAnon int64
	// ClientCPU and ServerCPU are the CPU time the processes used during
	// the timed step: unlike wall time, little affected by a busy machine.
	ClientCPU, ServerCPU time.Duration
	// ClientFaults and ServerFaults are the minor page faults the
	// processes took during the timed step (minorFaults).
	ClientFaults, ServerFaults int64
	// PeakReset is false when the kernel refused to reset VmHWM: the
	// peaks then include the processes' setup.
	PeakReset bool
	// Probe is the CPU probe's time right before the step (cpuProbe).
	Probe time.Duration
}

// runStep runs one client runner (argv) on job against srv (nil: no
// server), speaking the contract of job.go; with verify it asks for the
// check of job.Expect afterwards.
func runStep(ctx context.Context, argv []string, dir string, job Job, srv *serverProc, link Link, verify bool) (stepFigures, error) {
	var f stepFigures
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return f, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return f, err
	}
	if err := cmd.Start(); err != nil {
		return f, fmt.Errorf("start %s: %w", argv[0], err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	fail := func(err error) (stepFigures, error) {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			err = fmt.Errorf("%w; stderr: %s", err, lastLines(msg, 15))
		}
		return f, fmt.Errorf("client %s (%s): %w", job.Op, filepath.Base(job.Store), err)
	}
	read := func(phase string) (Message, error) {
		if !sc.Scan() {
			return Message{}, fmt.Errorf("runner ended before %q: %v", phase, sc.Err())
		}
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return m, fmt.Errorf("runner wrote %q: %w", sc.Text(), err)
		}
		if m.Phase == "error" {
			return m, errors.New(m.Error)
		}
		if m.Phase != phase {
			return m, fmt.Errorf("runner wrote phase %q, want %q", m.Phase, phase)
		}
		return m, nil
	}
	b, _ := json.Marshal(job)
	if _, err := fmt.Fprintf(stdin, "%s\n", b); err != nil {
		return fail(err)
	}
	if _, err := read("ready"); err != nil {
		return fail(err)
	}
	// Write back every dirty page of the machine before the step, so that
	// none from an earlier step (the peer's LevelDB never fsyncs; its
	// pages wait up to 30 s for the kernel's writeback) lands on this
	// step's fsyncs.
	syncAll()
	// How fast the CPU is now, before the step (probe.go).
	f.Probe = cpuProbe()
	pids := []int{cmd.Process.Pid}
	var up0, down0, conns0 int64
	f.PeakReset = resetPeak(cmd.Process.Pid)
	if srv != nil {
		pids = append(pids, srv.pid())
		f.PeakReset = resetPeak(srv.pid()) && f.PeakReset
		up0, down0, conns0 = srv.proxy.Counts()
	}
	var srvCPU0 time.Duration
	var srvFlt0 int64
	if srv != nil {
		srvCPU0, srvFlt0 = cpuTime(srv.pid()), minorFaults(srv.pid())
	}
	cliCPU0, cliFlt0 := cpuTime(cmd.Process.Pid), minorFaults(cmd.Process.Pid)
	smp := startSampler(pids...)
	if srv != nil && !link.IsZero() {
		srv.proxy.SetLink(link) // the timed step only
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		smp.finish()
		return fail(err)
	}
	f.Timed, err = read("timed")
	if srv != nil {
		srv.proxy.SetLink(Link{})
	}
	anon := smp.finish()
	if err != nil {
		return fail(err)
	}
	f.ClientCPU, f.ClientFaults = cpuTime(cmd.Process.Pid)-cliCPU0, minorFaults(cmd.Process.Pid)-cliFlt0
	if srv != nil {
		f.ServerCPU, f.ServerFaults = cpuTime(srv.pid())-srvCPU0, minorFaults(srv.pid())-srvFlt0
	}
	if srv != nil {
		up1, down1, conns1 := srv.proxy.Counts()
		f.Up, f.Down, f.Conns = up1-up0, down1-down0, conns1-conns0
		m, _ := readStatus(srv.pid())
		f.ServerPeak, f.ServerPeakAnon = m.HWM, anon[1]
	}
	m, _ := readStatus(cmd.Process.Pid)
	f.ClientPeak, f.ClientPeakAnon = m.HWM, anon[0]
	if verify {
		if _, err := io.WriteString(stdin, "verify\n"); err != nil {
			return fail(err)
		}
		v, err := read("verified")
		if err != nil {
			return fail(err)
		}
		f.Verified = &v
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fail(fmt.Errorf("runner exited: %w", err))
	}
	return f, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// copyTree copies the regular files under src into dst (created).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	// Flush the copy now: left dirty in the page cache, it would be
	// written back by the first fsync of the timed step (or by the
	// kernel's writeback, 30 s later, in the middle of some other run),
	// a cost that grows with the store and is not the sync's.
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: flush: %w", src, err)
	}
	return out.Close()
}
