// Package faultproxy is a fault-injecting TCP proxy for tests: it sits
// between real HTTP clients and a real server on loopback and breaks the
// traffic the way networks do — latency, a bandwidth limit, a connection
// reset, a message cut after N bytes, a hang (bytes held back until the
// fault heals) — in either direction.
//
// The proxy understands just enough HTTP/1.1 to aim a fault at one phase
// of a protocol: it frames requests and responses on each connection
// (request line and headers, then Content-Length bytes of body) and pairs
// every response with its request's path. A Fault names a path ("" is any),
// a direction (Up: requests, Down: responses) and a byte offset into the
// message at which it strikes, so "cut the /v1/exchange response after 40
// bytes" or "hang every /v1/info request" are one value each. A message it
// cannot frame (chunked, or headers over 64 KiB) turns its connection into
// a plain pipe that faults no longer aim at.
//
// Walkthrough:
//
//	p, _ := faultproxy.New("127.0.0.1:7070")   // listens on 127.0.0.1:0
//	defer p.Close()
//	p.Set(faultproxy.Fault{Kind: faultproxy.Cut, Dir: faultproxy.Down, Path: "/v1/exchange", After: 40, Times: 1})
//	... point the client at p.URL() ...
//	p.Heal()
//
// A hang holds the message's remaining bytes until Heal, then lets them
// flow (as TCP retransmission does when a path comes back) unless a peer
// gave up and closed its end first. Close ends every connection.
package faultproxy
