package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy on a loopback port that counts the bytes each way
// on the sockets: everything an HTTP client and server exchange (headers,
// bodies, chunk framing, compression as negotiated), without TCP/IP
// headers. Bytes are counted when read, before they are forwarded, so a
// peer that has received a byte finds it counted. With a Link set, it
// also makes every connection a network path of that latency and rate.
type Proxy struct {
	ln       net.Listener
	upstream string
	link     atomic.Pointer[Link] // nil: forward at once
	// shared is when the shared path of each direction (up, down) is
	// free again (Link.PerConnection false).
	sharedMu sync.Mutex
	shared   [2]time.Time
	// linkable: connections go through copyLinked (Linkable), which
	// costs a copy and a goroutine hop per chunk; otherwise through
	// copyCounting, and SetLink changes nothing.
	linkable atomic.Bool

	up, down atomic.Int64 // client->server and server->client bytes
	conns    atomic.Int64 // connections accepted

	wg sync.WaitGroup // the accept loop and every copying goroutine

	mu     sync.Mutex // guards open and closed
	open   map[net.Conn]struct{}
	closed bool
}

// StartProxy listens on 127.0.0.1 (a free port) and forwards every
// connection to upstream (host:port).
func StartProxy(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, upstream: upstream, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Link is a network path that the proxy emulates: each direction carries
// at most Rate bytes a second, and a byte reaches the other end Delay
// after the link has carried it. A new connection pays one round trip
// more before its first byte (the TCP handshake). The connections share
// one path (one device's link, over which a client may open several),
// unless PerConnection gives each its own (many devices, each with a link
// of its own). The zero Link forwards at once.
type Link struct {
	// Delay is the one-way latency.
	Delay time.Duration
	// Rate is the bandwidth of each direction in bytes a second; 0: no
	// limit.
	Rate int64
	// PerConnection gives each connection a path of its own.
	PerConnection bool
}

// IsZero reports whether l forwards at once.
func (l Link) IsZero() bool { return l.Delay <= 0 && l.Rate <= 0 }

// String describes l, e.g. "25ms each way, 20.0 Mbit/s each way".
func (l Link) String() string {
	if l.IsZero() {
		return "none"
	}
	rate := "no rate limit"
	if l.Rate > 0 {
		rate = fmt.Sprintf("%.1f Mbit/s each way", float64(l.Rate)*8/1e6)
	}
	return fmt.Sprintf("%v each way, %s", l.Delay, rate)
}

// Linkable makes the connections accepted from now on able to cross a
// Link (SetLink).
func (p *Proxy) Linkable() { p.linkable.Store(true) }

// SetLink makes the bytes read from now on cross l (the zero Link:
// forward at once), on the connections accepted since Linkable.
func (p *Proxy) SetLink(l Link) {
	p.sharedMu.Lock()
	p.shared = [2]time.Time{}
	p.sharedMu.Unlock()
	if l.IsZero() {
		p.link.Store(nil)
		return
	}
	p.link.Store(&l)
}

// carry returns when a chunk of k bytes that can leave at start has
// crossed l's bandwidth, given free, when the connection's own path is
// free again; dir (0 up, 1 down) picks the shared path.
func (p *Proxy) carry(l *Link, dir int, start time.Time, k int, free *time.Time) time.Time {
	took := time.Duration(0)
	if l.Rate > 0 {
		took = time.Duration(float64(k) / float64(l.Rate) * float64(time.Second))
	}
	if l.PerConnection {
		start = later(start, *free)
		*free = start.Add(took)
		return *free
	}
	p.sharedMu.Lock()
	defer p.sharedMu.Unlock()
	start = later(start, p.shared[dir])
	p.shared[dir] = start.Add(took)
	return p.shared[dir]
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Counts returns the bytes forwarded so far: up (client to server), down
// (server to client), and the connections accepted.
func (p *Proxy) Counts() (up, down, conns int64) {
	return p.up.Load(), p.down.Load(), p.conns.Load()
}

// Close stops listening, closes every connection and waits for the
// copying goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	accepted, linkable := time.Now(), p.linkable.Load()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client) || !p.track(server) {
		_ = client.Close()
		_ = server.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, n *atomic.Int64, handshake bool) {
		fail := func() { _ = client.Close(); _ = server.Close() }
		var clean bool
		if linkable {
			clean = p.copyLinked(dst, src, n, accepted, handshake, fail)
		} else {
			clean = copyCounting(dst, src, n)
		}
		if clean {
			// A clean end: half-close so that the other side sees EOF;
			// the sockets close when both directions are done.
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		} else {
			// A reset or a failed write ends both directions.
			_ = client.Close()
			_ = server.Close()
		}
		done <- struct{}{}
	}
	go pipe(server, client, &p.up, true)
	go pipe(client, server, &p.down, false)
	<-done
	<-done
	p.untrack(client)
	p.untrack(server)
}

// copyCounting copies src to dst through a buffer, adding every byte read
// to n before writing it on. It reports whether src ended cleanly (EOF).
func copyCounting(dst io.Writer, src io.Reader, n *atomic.Int64) bool {
	buf := make([]byte, 64<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return false
			}
		}
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// linkQueue bounds the bytes a direction of a linked connection holds in
// flight (its chunks times linkChunk): over it the proxy stops reading,
// and TCP's flow control stops the sender, as a full link buffer would.
const (
	linkChunk = 16 << 10
	linkQueue = 64
)

// copyLinked is copyCounting through the proxy's Link: while none is set
// each chunk goes on at once; with one, each chunk is delivered when the
// link would deliver it. handshake marks the direction that opened the
// connection (accepted at opened), the client's, whose first byte waits a
// round trip more. fail ends both directions (a write failed).
func (p *Proxy) copyLinked(dst io.Writer, src io.Reader, n *atomic.Int64, opened time.Time, handshake bool, fail func()) bool {
	dir := 1 // down: from the server
	if handshake {
		dir = 0
	}
	type chunk struct {
		b  []byte
		at time.Time // when to write it
	}
	ch := make(chan chunk, linkQueue)
	wrote := make(chan bool, 1)
	go func() {
		ok := true
		for c := range ch {
			if !ok {
				continue // drain, so that the reader never blocks
			}
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				ok = false
				fail()
			}
		}
		wrote <- ok
	}()
	var free, last time.Time // when the link is free again; the last chunk's delivery
	first := true
	buf := make([]byte, linkChunk)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			now := time.Now()
			at := now
			if l := p.link.Load(); l != nil {
				start := now
				if first && handshake {
					start = later(start, opened.Add(2*l.Delay)) // SYN, SYN-ACK
				}
				at = p.carry(l, dir, start, k, &free).Add(l.Delay)
			}
			first = false
			at = later(at, last) // in order
			last = at
			ch <- chunk{b: append([]byte(nil), buf[:k]...), at: at}
		}
		if err != nil {
			close(ch)
			ok := <-wrote
			return ok && errors.Is(err, io.EOF)
		}
	}
}
