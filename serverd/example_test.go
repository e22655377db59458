package serverd_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// A server on a loopback port: open the data dir, hand out a token, serve,
// shut down.
func Example() {
	dir, err := os.MkdirTemp("", "syncprint-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := serverd.Open(serverd.Config{
		DataDir: dir,
		Rules:   map[string]protocol.Rule{"notes": protocol.Manual},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := srv.CreateToken("alice", "laptop")
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	// ... clients talk to http://<ln.Addr()> with the token ...
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(tok), <-done)
	// Output: 46 <nil>
}
