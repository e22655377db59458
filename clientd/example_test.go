package clientd_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// exampleServer starts a real server on a loopback port for the examples.
func exampleServer(dir string, rule protocol.Rule) (*serverd.Server, string, func()) {
	srv, err := serverd.Open(serverd.Config{DataDir: filepath.Join(dir, "server"), DefaultRule: rule})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// waitSynced polls Status until the background loop has synced everything.
func waitSynced(c *clientd.Client) clientd.Status {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status()
		if err != nil {
			log.Fatal(err)
		}
		if st.Pending == 0 && !st.LastSync.IsZero() && !st.Syncing || time.Now().After(deadline) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Embedding the client in an app: open the store, write offline, let the
// background loop sync, and show the sync state.
func Example() {
	dir, _ := os.MkdirTemp("", "clientd-example")
	defer os.RemoveAll(dir)
	srv, url, stop := exampleServer(dir, protocol.ServerWins)
	defer stop()
	token, _ := srv.CreateToken("alice", "laptop") // normally issued by the admin

	c, err := clientd.Open(filepath.Join(dir, "app.db"), clientd.Config{ServerURL: url, Token: token})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Writes are local and instant; they work without a network.
	if err := c.Put("notes", "shopping", []byte("milk, eggs")); err != nil {
		log.Fatal(err)
	}
	// The loop syncs shortly after writes, on server notifications, on
	// Trigger() and periodically.
	if err := c.Start(); err != nil {
		log.Fatal(err)
	}
	st := waitSynced(c)
	fmt.Printf("replica %s, %d pending, last error %q\n", st.Replica, st.Pending, st.LastError)

	items, _ := c.List("notes")
	for _, it := range items {
		fmt.Printf("%s: %d bytes, server version %d, pending %v\n", it.ID, it.Size, it.Version, it.Pending)
	}
	// Output:
	// replica alice/laptop, 0 pending, last error ""
	// shopping: 10 bytes, server version 1, pending false
}

// Listing and resolving conflicts under the manual rule: the server keeps
// its version and stores the other device's as a conflict record that
// every device of the user sees.
func Example_conflicts() {
	dir, _ := os.MkdirTemp("", "clientd-example")
	defer os.RemoveAll(dir)
	srv, url, stop := exampleServer(dir, protocol.Manual)
	defer stop()
	open := func(device string) *clientd.Client {
		token, _ := srv.CreateToken("alice", device)
		c, err := clientd.Open(filepath.Join(dir, device+".db"), clientd.Config{ServerURL: url, Token: token})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	laptop, phone := open("laptop"), open("phone")
	defer laptop.Close()
	defer phone.Close()
	ctx := context.Background()

	// Both devices edit the same note while offline; the laptop syncs first.
	_ = laptop.Put("notes", "plan", []byte("laptop: meet at 10"))
	_ = phone.Put("notes", "plan", []byte("phone: meet at 11"))
	_, _ = laptop.Sync(ctx)
	rep, _ := phone.Sync(ctx)
	fmt.Println("phone sync conflicts:", rep.Conflicts)
	_, _ = laptop.Sync(ctx) // refreshes the laptop's view of server records

	conflicts, _ := laptop.Conflicts()
	for _, cf := range conflicts {
		fmt.Printf("%s conflict (%s) on %s/%s by %s: %q\n", cf.Kind, cf.Reason, cf.Collection, cf.ID, cf.Replica, cf.Content)
	}
	current, _ := laptop.Get("notes", "plan")
	fmt.Printf("current: %q\n", current)

	// The user merges both; every record of the item is closed.
	err := laptop.Resolve(ctx, "notes", "plan", clientd.Resolution{Content: []byte("meet at 10:30")})
	if err != nil {
		log.Fatal(err)
	}
	_, _ = phone.Sync(ctx)
	merged, _ := phone.Get("notes", "plan")
	left, _ := phone.Conflicts()
	fmt.Printf("phone now has %q and %d conflicts\n", merged, len(left))
	// Output:
	// phone sync conflicts: 1
	// server conflict (manual) on notes/plan by alice/phone: "phone: meet at 11"
	// current: "laptop: meet at 10"
	// phone now has "meet at 10:30" and 0 conflicts
}

// A one-shot sync, for example from a CLI, with progress reporting.
func ExampleClient_Sync() {
	dir, _ := os.MkdirTemp("", "clientd-example")
	defer os.RemoveAll(dir)
	srv, url, stop := exampleServer(dir, protocol.ServerWins)
	defer stop()
	token, _ := srv.CreateToken("alice", "cli")

	c, err := clientd.Open(filepath.Join(dir, "cli.db"), clientd.Config{
		ServerURL: url, Token: token,
		Progress: func(ev clientd.ProgressEvent) {
			if ev.Phase == clientd.PhaseExchange {
				fmt.Printf("%s: %s\n", ev.Collection, ev)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	items := map[string][]byte{}
	for i := 0; i < 3; i++ {
		items[fmt.Sprintf("task-%d", i)] = []byte("todo")
	}
	_ = c.PutMany("tasks", items)
	rep, err := c.Sync(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("uploaded %d, downloaded %d, conflicts %d\n", rep.Uploaded, rep.Downloaded, rep.Conflicts)
	// Output:
	// tasks: round 1: 3/3 items (3 up, 0 down)
	// uploaded 3, downloaded 0, conflicts 0
}

// An app that moves much data at a time readies its process once, at the
// top of main, before it opens its store.
func ExampleTuneProcess() {
	restore, err := clientd.TuneProcess()
	if err != nil {
		log.Printf("no huge pages for the heap: %v", err) // the collector floor applies anyway
	}
	defer restore()

	// ... clientd.Open, Start, and the rest of the app.
}
