package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/conformance"
)

const conformClientUsage = "syncprint conform client --driver 'COMMAND' [--run PATTERN[,PATTERN]] [--strict] [--junit FILE] [--json FILE]"

// conformClient runs the client-mode cases against a driver
// (conformance/DRIVER.md).
func conformClient(e env, args []string) error {
	fs := flagSet{newFlags("conform client", conformClientUsage, e.stderr)}
	driver := fs.String("driver", "", "command that starts a driver of the client under test (run with sh -c; see conformance/DRIVER.md)")
	rf := addReportFlags(&fs)
	if err := parse(fs.FlagSet, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("conform client takes no arguments, got %q", fs.Args())
	}
	if *driver == "" {
		return usagef("conform client needs --driver")
	}
	cases := conformance.Select(conformance.ModeClient, rf.patterns())
	if len(cases) == 0 {
		return usagef("--run %q selects no client case", *rf.run)
	}
	ctx, stop := signalContext(e)
	defer stop()
	fmt.Fprintf(e.stdout, "syncprint conformance %s: %d client cases, driver %q\n", conformance.SuiteVersion, len(cases), *driver)
	rep := conformance.RunClient(ctx, conformance.ClientConfig{Driver: *driver}, cases, conformProgress(e, *rf.verbose))
	return rf.finish(e, rep)
}

const clientDriverUsage = "syncprint client-driver [--store FILE] [--server URL] [--token TOKEN]"

// cmdClientDriver is the conformance driver for clientd: JSON lines on
// stdin and stdout, as conformance/DRIVER.md describes. The flags are
// defaults that the init request overrides.
func cmdClientDriver(e env, args []string) error {
	fs := newFlags("client-driver", clientDriverUsage, e.stderr)
	store := fs.String("store", "", "client store file (default: DIR/client.db of the init request)")
	server := fs.String("server", "", "server URL (default: the init request's)")
	token := fs.String("token", "", "device token (default: the init request's)")
	if err := parse(fs, args); err != nil {
		return err
	}
	d := &clientDriver{store: *store, server: *server, token: *token}
	defer d.close()
	out := json.NewEncoder(e.stdout)
	// outMu guards out: replies come from the reading loop only, but a
	// background sync finishes on its own goroutine.
	var outMu sync.Mutex
	reply := func(v map[string]any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(v)
	}
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var req driverRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			reply(map[string]any{"ok": false, "error": "not a JSON object: " + err.Error()})
			continue
		}
		res, err := d.do(req)
		if res == nil {
			res = map[string]any{}
		}
		res["ok"] = err == nil
		if err != nil {
			res["error"] = err.Error()
		}
		reply(res)
		if req.Cmd == "quit" {
			return nil
		}
	}
	return sc.Err()
}

type driverRequest struct {
	Cmd        string `json:"cmd"`
	Server     string `json:"server"`
	Token      string `json:"token"`
	Dir        string `json:"dir"`
	Collection string `json:"collection"`
	ID         string `json:"id"`
	ContentB64 string `json:"content_b64"`
	Background bool   `json:"background"`
}

type clientDriver struct {
	store, server, token string
	c                    *clientd.Client
	bg                   chan error // the background sync's outcome, nil when none runs
}

func (d *clientDriver) open() error {
	c, err := clientd.Open(d.store, clientd.Config{ServerURL: d.server, Token: d.token, AllowInsecureHTTP: true, WatchTimeout: -1})
	if err != nil {
		return err
	}
	d.c = c
	return nil
}

func (d *clientDriver) close() {
	if d.bg != nil {
		<-d.bg
		d.bg = nil
	}
	if d.c != nil {
		_ = d.c.Close()
		d.c = nil
	}
}

var errNoClient = errors.New("send init first")

func (d *clientDriver) do(req driverRequest) (map[string]any, error) {
	if d.c == nil && req.Cmd != "init" && req.Cmd != "quit" {
		return nil, errNoClient
	}
	switch req.Cmd {
	case "init":
		if req.Server != "" {
			d.server = req.Server
		}
		if req.Token != "" {
			d.token = req.Token
		}
		if d.store == "" {
			if req.Dir == "" {
				return nil, errors.New("init needs dir (or --store)")
			}
			if err := os.MkdirAll(req.Dir, 0o700); err != nil {
				return nil, err
			}
			d.store = filepath.Join(req.Dir, "client.db")
		}
		return nil, d.open()
	case "put":
		content, err := base64.StdEncoding.DecodeString(req.ContentB64)
		if err != nil {
			return nil, fmt.Errorf("content_b64: %w", err)
		}
		return nil, d.c.Put(req.Collection, req.ID, content)
	case "delete":
		return nil, d.c.Delete(req.Collection, req.ID)
	case "get":
		b, err := d.c.Get(req.Collection, req.ID)
		if errors.Is(err, clientd.ErrNotFound) {
			return map[string]any{"found": false}, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"found": true, "content_b64": base64.StdEncoding.EncodeToString(b)}, nil
	case "sync":
		if d.bg != nil {
			return nil, errors.New("a background sync is running")
		}
		if req.Background {
			d.bg = make(chan error, 1)
			go func(c *clientd.Client, ch chan error) {
				_, err := c.Sync(context.Background())
				ch <- err
			}(d.c, d.bg)
			return nil, nil
		}
		_, err := d.c.Sync(context.Background())
		return nil, err
	case "wait":
		if d.bg == nil {
			return nil, errors.New("no background sync")
		}
		err := <-d.bg
		d.bg = nil
		return nil, err
	case "dump":
		return d.dump(req.Collection)
	case "restart":
		d.close()
		return nil, d.open()
	case "quit":
		d.close()
		return nil, nil
	default:
		return nil, fmt.Errorf("unsupported: %q", req.Cmd)
	}
}

func (d *clientDriver) dump(coll string) (map[string]any, error) {
	infos, err := d.c.List(coll)
	if err != nil {
		return nil, err
	}
	items := []map[string]any{}
	for _, it := range infos {
		b, err := d.c.Get(coll, it.ID)
		if err != nil {
			return nil, err
		}
		items = append(items, map[string]any{"id": it.ID, "content_b64": base64.StdEncoding.EncodeToString(b), "deleted": false, "pending": it.Pending})
	}
	cs, err := d.c.Conflicts()
	if err != nil {
		return nil, err
	}
	conflicts := []map[string]any{}
	for _, c := range cs {
		if c.Collection == coll && c.Kind == clientd.KindLocal {
			conflicts = append(conflicts, map[string]any{"id": c.ID, "content_b64": base64.StdEncoding.EncodeToString(c.Content), "deleted": c.Deleted})
		}
	}
	return map[string]any{"items": items, "conflicts": conflicts}, nil
}
