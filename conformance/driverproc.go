package conformance

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// driverProc is a running driver (DRIVER.md).
type driverProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
	done   chan error
	rec    *recorder
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDriver runs command with sh -c in the current directory (dir is
// kept for the driver's state, passed in init).
func startDriver(command, dir string, rec *recorder) (*driverProc, error) {
	cmd := exec.Command("sh", "-c", command)

	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d := &driverProc{cmd: cmd, stdin: stdin, lines: make(chan string, 16), stderr: &lockedBuffer{}, done: make(chan error, 1), rec: rec}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start driver %q: %w", command, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	go func() { d.done <- cmd.Wait() }()
	return d, nil
}

// driverReply is a driver's answer.
type driverReply struct {
	OK         bool       `json:"ok"`
	Error      string     `json:"error"`
	Found      bool       `json:"found"`
	ContentB64 string     `json:"content_b64"`
	Items      []dumpItem `json:"items"`
	Conflicts  []dumpItem `json:"conflicts"`
	raw        string
}

type dumpItem struct {
	ID         string `json:"id"`
	ContentB64 string `json:"content_b64"`
	Deleted    bool   `json:"deleted"`
	Pending    bool   `json:"pending"`
}

func (d dumpItem) content() string {
	b, _ := base64.StdEncoding.DecodeString(d.ContentB64)
	return string(b)
}

// call sends one request and waits for its reply.
func (d *driverProc) call(ctx context.Context, req map[string]any, timeout time.Duration) (driverReply, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return driverReply{}, err
	}
	shown := string(b)
	if tok, ok := req["token"].(string); ok && tok != "" {
		shown = strings.ReplaceAll(shown, tok, "<redacted>")
	}
	start := time.Now()
	e := Entry{Method: "DRIVER", Path: fmt.Sprint(req["cmd"]), As: "harness", Request: shown}
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		e.Error = "write to the driver: " + err.Error()
		d.rec.add(e)
		return driverReply{}, fmt.Errorf("write to the driver: %w (stderr: %s)", err, clip(d.stderr.String(), 2000))
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-d.lines:
		e.Millis = time.Since(start).Milliseconds()
		if !ok {
			e.Error = "the driver closed its stdout"
			d.rec.add(e)
			return driverReply{}, fmt.Errorf("the driver exited (stderr: %s)", clip(d.stderr.String(), 2000))
		}
		e.Response = clip(line, 2000)
		d.rec.add(e)
		var r driverReply
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return driverReply{}, fmt.Errorf("the driver answered %q, not a JSON object: %v", clip(line, 200), err)
		}
		r.raw = line
		return r, nil
	case <-t.C:
		e.Error = fmt.Sprintf("no reply within %v", timeout)
		d.rec.add(e)
		return driverReply{}, fmt.Errorf("the driver did not reply to %s within %v (stderr: %s)", req["cmd"], timeout, clip(d.stderr.String(), 2000))
	case <-ctx.Done():
		return driverReply{}, ctx.Err()
	}
}

// stop asks the driver to quit and kills it if it does not.
func (d *driverProc) stop() {
	_, _ = d.call(context.Background(), map[string]any{"cmd": "quit"}, 5*time.Second)
	_ = d.stdin.Close()
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
