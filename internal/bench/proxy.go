package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Proxy is a TCP proxy on a loopback port that counts the bytes each way
// on the sockets: everything an HTTP client and server exchange (headers,
// bodies, chunk framing, compression as negotiated), without TCP/IP
// headers. Bytes are counted when read, before they are forwarded, so a
// peer that has received a byte finds it counted.
type Proxy struct {
	ln       net.Listener
	upstream string

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
	pipe := func(dst, src net.Conn, n *atomic.Int64) {
		if copyCounting(dst, src, n) {
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
	go pipe(server, client, &p.up)
	go pipe(client, server, &p.down)
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
