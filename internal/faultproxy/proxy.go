package faultproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dir is a direction of traffic.
type Dir int

// Directions.
const (
	// Up is client to server: requests.
	Up Dir = 1 << iota
	// Down is server to client: responses.
	Down
	// Both is either direction.
	Both = Up | Down
)

func (d Dir) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	case Both, 0:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", int(d))
}

// Kind is what a fault does.
type Kind int

// Kinds of faults.
const (
	// None passes traffic unchanged.
	None Kind = iota
	// Latency delays every chunk of a matching message by Delay.
	Latency
	// Bandwidth limits a matching message to BytesPerSec.
	Bandwidth
	// Reset forwards After bytes of the message, then resets both
	// connections (TCP RST).
	Reset
	// Cut forwards After bytes of the message, then closes both
	// connections (FIN): the peer sees a truncated message.
	Cut
	// Hang forwards After bytes of the message and holds the rest until
	// Heal; the connections stay open.
	Hang
)

func (k Kind) String() string {
	return [...]string{"none", "latency", "bandwidth", "reset", "cut", "hang"}[k]
}

// Fault is what the proxy does to the traffic.
type Fault struct {
	Kind Kind
	// Dir is the direction of the messages it strikes (0 means Both).
	Dir Dir
	// Path restricts it to the messages of one request path (a response
	// has its request's path); "" matches every message.
	Path string
	// After is how many bytes of a matching message (headers included)
	// pass before a Reset, Cut or Hang strikes.
	After int
	// InBody makes After count from the end of the header block: the
	// fault strikes inside the body (never in a message without one).
	InBody bool
	// Delay is the latency added per chunk (Latency).
	Delay time.Duration
	// BytesPerSec is the bandwidth (Bandwidth).
	BytesPerSec int
	// Times is how many messages it strikes before it heals by itself;
	// 0 means every matching message until Heal or Set.
	Times int
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s %s %q", f.Kind, f.Dir, f.Path)
	switch f.Kind {
	case Reset, Cut, Hang:
		s += fmt.Sprintf(" after %d bytes", f.After)
		if f.InBody {
			s += " of the body"
		}
	case Latency:
		s += " " + f.Delay.String()
	case Bandwidth:
		s += fmt.Sprintf(" %d B/s", f.BytesPerSec)
	}
	if f.Times > 0 {
		s += fmt.Sprintf(" x%d", f.Times)
	}
	return s
}

// maxHeader bounds the header block the proxy frames.
const maxHeader = 64 << 10

// Proxy is a fault-injecting TCP proxy for HTTP/1.1 traffic.
type Proxy struct {
	ln net.Listener
	wg sync.WaitGroup // the accept loop and every connection's pumps

	mu       sync.Mutex // guards everything below
	upstream string
	fault    Fault
	struck   int           // messages the fault struck since Set
	healed   chan struct{} // closed by Heal, Set and Close: releases hangs
	seen     map[string]int
	total    int // messages of every path
	conns    map[*pair]struct{}
	closed   bool
}

// New starts a proxy on a free loopback port that forwards to upstream
// (host:port).
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{upstream: upstream, ln: ln, healed: make(chan struct{}), seen: map[string]int{}, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetUpstream points new connections at another server address (a server
// restarted on another port); open connections stay where they are.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.upstream = addr
}

// Set replaces the fault (and its count of strikes); hung messages flow on.
func (p *Proxy) Set(f Fault) {
	if f.Dir == 0 {
		f.Dir = Both
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.struck = f, 0
	close(p.healed)
	p.healed = make(chan struct{})
}

// Heal removes the fault; held bytes flow on.
func (p *Proxy) Heal() { p.Set(Fault{}) }

// Struck returns how many messages the current fault struck.
func (p *Proxy) Struck() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.struck
}

// Seen returns how many messages of a path (in each direction together)
// started through the proxy.
func (p *Proxy) Seen(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[path]
}

// Messages returns how many messages (requests and responses of every
// path) started through the proxy.
func (p *Proxy) Messages() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// Close stops accepting, ends every connection and waits for them.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.healed)
	p.healed = make(chan struct{})
	conns := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.close(false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		addr := p.upstream
		p.mu.Unlock()
		up, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			resetConn(c) // the server is down: the client sees a reset
			continue
		}
		pr := &pair{p: p, client: c, server: up, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go pr.pump(Up, c, up)
		go pr.pump(Down, up, c)
	}
}

// pair is one proxied connection: the client's and the upstream one.
type pair struct {
	p              *Proxy
	client, server net.Conn
	done           chan struct{} // closed when the pair is closed

	mu     sync.Mutex // guards paths, closed, halves
	paths  []string   // paths of requests whose responses have not started
	closed bool
	halves int // directions that reached EOF
}

// close closes both connections, with a reset when rst is set.
func (pr *pair) close(rst bool) {
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return
	}
	pr.closed = true
	close(pr.done)
	pr.mu.Unlock()
	if rst {
		resetConn(pr.client)
		resetConn(pr.server)
	} else {
		pr.client.Close()
		pr.server.Close()
	}
	pr.p.mu.Lock()
	delete(pr.p.conns, pr)
	pr.p.mu.Unlock()
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// message is the message being forwarded in one direction.
type message struct {
	path   string
	head   int  // length of the header block
	off    int  // bytes forwarded so far, headers included
	struck bool // the fault has struck it (it strikes a message once)
	remain int  // body bytes still to come; -1: until the connection closes
}

// pump forwards one direction, framing messages to aim faults at them.
func (pr *pair) pump(dir Dir, src, dst net.Conn) {
	defer pr.p.wg.Done()
	buf := make([]byte, 32<<10)
	var hdr []byte   // header bytes of the next message, not yet forwarded
	var msg *message // nil between messages
	plain := false   // framing lost: forward as a plain pipe
	for {
		n, err := src.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			if plain {
				if !pr.write(dst, &message{}, data) {
					return
				}
				break
			}
			if msg == nil {
				hdr = append(hdr, data...)
				data = nil
				i := bytes.Index(hdr, []byte("\r\n\r\n"))
				if i < 0 {
					if len(hdr) > maxHeader {
						plain, data, hdr = true, hdr, nil
					}
					continue
				}
				head := hdr[:i+4]
				rest := append([]byte(nil), hdr[i+4:]...)
				m, ok := pr.start(dir, head)
				if !ok {
					plain, data, hdr = true, hdr, nil
					continue
				}
				msg, hdr = m, nil
				if !pr.forward(dir, dst, msg, head) {
					return
				}
				data = rest
				if msg.remain == 0 {
					msg = nil
				}
				continue
			}
			k := len(data)
			if msg.remain >= 0 {
				k = min(k, msg.remain)
				msg.remain -= k
			}
			if !pr.forward(dir, dst, msg, data[:k]) {
				return
			}
			data = data[k:]
			if msg.remain == 0 {
				msg = nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				pr.halfClose(dst)
			} else {
				pr.close(false)
			}
			return
		}
	}
}

// halfClose passes an EOF on; when both directions ended the pair closes.
func (pr *pair) halfClose(dst net.Conn) {
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	pr.mu.Lock()
	pr.halves++
	both := pr.halves == 2
	pr.mu.Unlock()
	if both {
		pr.close(false)
	}
}

// start parses a message's header block; ok is false when it cannot be
// framed.
func (pr *pair) start(dir Dir, head []byte) (*message, bool) {
	line, rest, _ := strings.Cut(string(head), "\r\n")
	m := &message{head: len(head)}
	status := 0
	if dir == Up {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, false
		}
		m.path, _, _ = strings.Cut(f[1], "?")
		pr.mu.Lock()
		pr.paths = append(pr.paths, m.path)
		pr.mu.Unlock()
	} else {
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, false
		}
		status, _ = strconv.Atoi(f[1])
		pr.mu.Lock()
		if len(pr.paths) > 0 {
			m.path = pr.paths[0]
			if status >= 200 { // a 1xx is followed by the real response
				pr.paths = pr.paths[1:]
			}
		}
		pr.mu.Unlock()
	}
	m.remain = -1
	if dir == Up {
		m.remain = 0 // a request without Content-Length has no body
	}
	if status/100 == 1 || status == 204 || status == 304 {
		m.remain = 0
	}
	for _, h := range strings.Split(rest, "\r\n") {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 {
				return nil, false
			}
			if m.remain != 0 || dir == Up {
				m.remain = n
			}
		case "transfer-encoding":
			return nil, false
		}
	}
	pr.p.mu.Lock()
	pr.p.seen[m.path]++
	pr.p.total++
	pr.p.mu.Unlock()
	return m, true
}

// forward writes one segment of a message, applying the fault. It reports
// whether the pump goes on.
func (pr *pair) forward(dir Dir, dst net.Conn, m *message, seg []byte) bool {
	p := pr.p
	p.mu.Lock()
	f, healed := p.fault, p.healed
	after := f.After
	if f.InBody {
		after += m.head
	}
	hits := f.Kind != None && f.Dir&dir != 0 && (f.Path == "" || f.Path == m.path) &&
		(m.struck || f.Times == 0 || p.struck < f.Times)
	if hits && !m.struck && (f.Kind == Latency || f.Kind == Bandwidth || m.off+len(seg) > after) {
		m.struck = true
		p.struck++
	}
	p.mu.Unlock()
	if !hits || !m.struck {
		return pr.write(dst, m, seg)
	}
	switch f.Kind {
	case Latency:
		if !pr.wait(f.Delay, nil) {
			return false
		}
		return pr.write(dst, m, seg)
	case Bandwidth:
		for len(seg) > 0 {
			k := min(len(seg), max(f.BytesPerSec/20, 1)) // 50 ms slices
			if !pr.write(dst, m, seg[:k]) {
				return false
			}
			seg = seg[k:]
			if !pr.wait(time.Duration(k)*time.Second/time.Duration(max(f.BytesPerSec, 1)), nil) {
				return false
			}
		}
		return true
	}
	k := max(min(after-m.off, len(seg)), 0)
	if !pr.write(dst, m, seg[:k]) {
		return false
	}
	seg = seg[k:]
	switch f.Kind {
	case Reset:
		pr.close(true)
		return false
	case Cut:
		pr.close(false)
		return false
	case Hang:
		if !pr.wait(-1, healed) {
			return false
		}
	}
	return pr.write(dst, m, seg)
}

func (pr *pair) write(dst net.Conn, m *message, seg []byte) bool {
	if len(seg) == 0 {
		return true
	}
	if _, err := dst.Write(seg); err != nil {
		pr.close(false)
		return false
	}
	m.off += len(seg)
	return true
}

// wait waits d (or, when d < 0, until until is closed); false when the
// pair closed meanwhile.
func (pr *pair) wait(d time.Duration, until <-chan struct{}) bool {
	var tc <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-pr.done:
		return false
	case <-tc:
		return true
	case <-until:
		return true
	}
}
