package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd"
)

// System names (Config.Systems).
const (
	Syncprint = "syncprint"
	PouchDB   = "pouchdb"
)

// account is a client's identity on a server: a token and a collection for
// Syncprint, a database name for the peer.
type account struct {
	Token      string
	Collection string
}

// system is one side of the comparison: how to prepare, start and talk to
// its server, and how to run its client runner.
type system interface {
	name() string
	// initServer prepares the empty server data dir and the accounts of
	// users (each "user/device"); the server is not running.
	initServer(dataDir string, users []string) ([]account, error)
	// startServer starts the server process on dataDir.
	startServer(ctx context.Context, dataDir, logPath, cpuProfile string) (*serverProc, error)
	// runner is the client runner's command line.
	runner() []string
	// store is the local store's path for a client named name in dir.
	store(dir, name string) string
	// tune fills the system's fields of a job.
	tune(j *Job)
	// warmPaths are the GET requests that warm a freshly started server
	// up for a job, sent before the timed step, uncounted.
	warmPaths(j Job) []string
}

// spSystem is Syncprint: `syncprint serve` and `syncprint bench-client`.
type spSystem struct{ exe string }

func (spSystem) name() string { return Syncprint }

// benchCollection is the collection (or peer database) of the workloads.
const benchCollection = "bench"

func (spSystem) initServer(dataDir string, users []string) ([]account, error) {
	srv, err := serverd.Open(serverd.Config{DataDir: dataDir})
	if err != nil {
		return nil, fmt.Errorf("init syncprint server: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	out := make([]account, len(users))
	for k, u := range users {
		user, device, _ := strings.Cut(u, "/")
		tok, err := srv.CreateToken(user, device)
		if err != nil {
			return nil, fmt.Errorf("init syncprint server: token %s: %w", u, err)
		}
		out[k] = account{Token: tok, Collection: benchCollection}
	}
	return out, nil
}

func (s spSystem) startServer(ctx context.Context, dataDir, logPath, cpuProfile string) (*serverProc, error) {
	argv := []string{s.exe, "serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--log-level", "info"}
	if cpuProfile != "" {
		argv = append(argv, "--cpuprofile", cpuProfile)
	}
	return startServer(ctx, argv, filepath.Dir(dataDir), logPath, func(line string) (string, bool) {
		_, rest, ok := strings.Cut(line, " listening on http://")
		if !ok {
			return "", false
		}
		addr, _, _ := strings.Cut(rest, " ")
		return addr, addr != ""
	})
}

func (s spSystem) runner() []string { return []string{s.exe, "bench-client"} }

func (spSystem) store(dir, name string) string { return filepath.Join(dir, name+".db") }

func (spSystem) tune(*Job) {}

// warmPaths: the handshake, unauthenticated.
func (spSystem) warmPaths(Job) []string { return []string{protocol.PathInfo} }

// pouchSystem is the peer: express-pouchdb and pouchdb-node under node.
type pouchSystem struct {
	node, dir string
	batch     int
}

func (pouchSystem) name() string { return PouchDB }

func (pouchSystem) initServer(dataDir string, users []string) ([]account, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	out := make([]account, len(users))
	for k, u := range users {
		user, _, _ := strings.Cut(u, "/")
		// Each Syncprint user's collection is one database of the peer
		// (CouchDB's database per user); devices share it.
		db := benchCollection
		if user != benchUser {
			db = user
		}
		out[k] = account{Collection: db}
	}
	return out, nil
}

func (p pouchSystem) startServer(ctx context.Context, dataDir, logPath, _ string) (*serverProc, error) {
	argv := []string{p.node, filepath.Join(p.dir, "server.js"), "--dir", dataDir, "--port", "0"}
	return startServer(ctx, argv, filepath.Dir(dataDir), logPath, func(line string) (string, bool) {
		var m struct {
			Ready bool `json:"ready"`
			Port  int  `json:"port"`
		}
		if json.Unmarshal([]byte(line), &m) != nil || !m.Ready {
			return "", false
		}
		return fmt.Sprintf("127.0.0.1:%d", m.Port), true
	})
}

func (p pouchSystem) runner() []string {
	return []string{p.node, filepath.Join(p.dir, "client.js")}
}

func (pouchSystem) store(dir, name string) string { return filepath.Join(dir, name) }

func (p pouchSystem) tune(j *Job) { j.BatchSize = p.batch }

// warmPaths: the root and the database's info, which opens the database
// (express-pouchdb opens LevelDB on the first request naming it).
func (pouchSystem) warmPaths(j Job) []string {
	paths := []string{"/"}
	if j.Collection != "" {
		paths = append(paths, "/"+j.Collection)
	}
	return paths
}
