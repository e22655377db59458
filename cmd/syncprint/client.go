package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/syncprint/syncprint/clientd"
	"github.com/syncprint/syncprint/protocol"
)

const clientUsage = `syncprint client [--store FILE] [--server URL] [--token TOKEN] COMMAND [ARGS]

The store, server and token also come from $SYNCPRINT_STORE, $SYNCPRINT_SERVER
and $SYNCPRINT_TOKEN. Every command but sync and resolve of a server conflict
works offline, on the local store only.

Commands:
  put COLL ID [VALUE|-]     write an item (VALUE, or standard input when - or absent)
  get COLL ID               print an item's content (exit 3: not found)
  rm COLL ID                delete an item (exit 3: not found)
  ls [COLL] [--json]        list a collection's items, or the collections
  sync                      sync every collection with the server now
  status [--json]           pending changes, last sync, last error, conflicts
  conflicts [COLL] [--json] list the versions that lost a conflict
  resolve COLL ID (--use CONFLICT_ID | --value V | --value-file F | --delete | --keep-current)
                            settle an item's conflicts; closes all its records
  history [COLL [ID]] [--limit N] [--json]
                            the local history of changes, newest first`

// maxStdinItem bounds how much `put` reads from standard input: one byte
// more than the protocol's default item limit, so an oversized item gets the
// client's own clear error instead of being read without end.
const maxStdinItem = protocol.DefaultMaxItemBytes + 1

func cmdClient(e env, args []string) error {
	fs := newFlags("client", clientUsage, e.stderr)
	store := fs.String("store", e.getenv("SYNCPRINT_STORE"), "local store file (default $SYNCPRINT_STORE or ./syncprint-client.db)")
	server := fs.String("server", e.getenv("SYNCPRINT_SERVER"), "server URL, e.g. http://127.0.0.1:7070 (default $SYNCPRINT_SERVER)")
	token := fs.String("token", e.getenv("SYNCPRINT_TOKEN"), "bearer token of this device (default $SYNCPRINT_TOKEN)")
	timeout := fs.Duration("timeout", 5*time.Minute, "longest time a sync may take")
	insecure := fs.Bool("insecure-http", false, "allow sending the token over plain http:// to a host that is not loopback")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("client: no command given")
	}
	if *store == "" {
		*store = "syncprint-client.db"
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	cc := &clientCmd{e: e, store: *store, server: *server, token: *token, timeout: *timeout, insecure: *insecure}
	switch cmd {
	case "put":
		return cc.put(rest)
	case "get":
		return cc.get(rest)
	case "rm", "delete":
		return cc.rm(rest)
	case "ls", "list":
		return cc.ls(rest)
	case "sync":
		return cc.sync(rest)
	case "status":
		return cc.status(rest)
	case "conflicts":
		return cc.conflicts(rest)
	case "resolve":
		return cc.resolve(rest)
	case "history":
		return cc.history(rest)
	default:
		fs.Usage()
		return usagef("client: unknown command %q", cmd)
	}
}

type clientCmd struct {
	e             env
	store         string
	server, token string
	timeout       time.Duration
	insecure      bool
}

// open opens the local store; the server and token are needed only by
// commands that go online.
func (cc *clientCmd) open(online bool) (*clientd.Client, error) {
	if online {
		if cc.server == "" {
			return nil, usagef("no server: give --server URL or set SYNCPRINT_SERVER")
		}
		if cc.token == "" {
			return nil, usagef("no token: give --token TOKEN or set SYNCPRINT_TOKEN (create one with: syncprint token create --data DIR --user NAME --device NAME)")
		}
	}
	cfg := clientd.Config{ServerURL: cc.server, Token: cc.token, AllowInsecureHTTP: cc.insecure}
	if online && isTerminal(cc.e.stderr) {
		cfg.Progress = progressPrinter(cc.e.stderr)
	}
	c, err := clientd.Open(cc.store, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cc.store, err)
	}
	return c, nil
}

// subFlags parses the options of a client subcommand; options may come
// before or after the positional arguments.
func (cc *clientCmd) subFlags(name, usage string, args []string, def func(fs *flagSet)) ([]string, error) {
	fs := newFlags("client "+name, "syncprint client "+usage, cc.e.stderr)
	def(&flagSet{fs})
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func notFound(err error, coll, id string) error {
	if errors.Is(err, clientd.ErrNotFound) {
		return exitError{exitNotFound, fmt.Errorf("%s/%s: not found", coll, id)}
	}
	return err
}

func (cc *clientCmd) put(args []string) error {
	pos, err := cc.subFlags("put", "put COLL ID [VALUE|-]", args, func(*flagSet) {})
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usagef("usage: syncprint client put COLL ID [VALUE|-]")
	}
	var value []byte
	if len(pos) == 3 && pos[2] != "-" {
		value = []byte(pos[2])
	} else {
		if value, err = io.ReadAll(io.LimitReader(cc.e.stdin, maxStdinItem)); err != nil {
			return fmt.Errorf("read value from standard input: %w", err)
		}
	}
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Put(pos[0], pos[1], value); err != nil {
		return fmt.Errorf("put %s/%s: %w", pos[0], pos[1], err)
	}
	return nil
}

func (cc *clientCmd) get(args []string) error {
	pos, err := cc.subFlags("get", "get COLL ID", args, func(*flagSet) {})
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: syncprint client get COLL ID")
	}
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.Get(pos[0], pos[1])
	if err != nil {
		return notFound(err, pos[0], pos[1])
	}
	if isTerminal(cc.e.stdout) && len(v) > 0 && v[len(v)-1] != '\n' {
		// Content goes out byte for byte to a pipe or a file; on a terminal
		// the prompt should not run into it.
		v = append(v, '\n')
	}
	_, err = cc.e.stdout.Write(v)
	return err
}

func (cc *clientCmd) rm(args []string) error {
	pos, err := cc.subFlags("rm", "rm COLL ID", args, func(*flagSet) {})
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: syncprint client rm COLL ID")
	}
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	return notFound(c.Delete(pos[0], pos[1]), pos[0], pos[1])
}

func (cc *clientCmd) ls(args []string) error {
	var asJSON bool
	pos, err := cc.subFlags("ls", "ls [COLL] [--json]", args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("usage: syncprint client ls [COLL] [--json]")
	}
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	if len(pos) == 0 {
		colls, err := c.Collections()
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(cc.e.stdout, colls)
		}
		for _, name := range colls {
			fmt.Fprintln(cc.e.stdout, name)
		}
		return nil
	}
	items, err := c.List(pos[0])
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cc.e.stdout, items)
	}
	tw := tabwriter.NewWriter(cc.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIZE\tVERSION\tAUTHOR\tCHANGED\tSTATE")
	for _, it := range items {
		state := "synced"
		if it.Pending {
			state = "pending"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", it.ID, it.Size, it.Version, it.Author, it.HLC.Time().Local().Format(time.DateTime), state)
	}
	return tw.Flush()
}

func (cc *clientCmd) sync(args []string) error {
	pos, err := cc.subFlags("sync", "sync", args, func(*flagSet) {})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: syncprint client sync")
	}
	c, err := cc.open(true)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := cc.context()
	defer cancel()
	rep, err := c.Sync(ctx)
	if err != nil {
		return err // clientd's errors start with "sync: "
	}
	fmt.Fprintf(cc.e.stdout, "synced %d collection(s) in %s: %d uploaded, %d downloaded, %d conflict(s)\n",
		rep.Collections, rep.Duration.Round(time.Millisecond), rep.Uploaded, rep.Downloaded, rep.Conflicts)
	if rep.Conflicts > 0 {
		fmt.Fprintln(cc.e.stdout, "see: syncprint client conflicts")
	}
	if len(rep.TooLarge) > 0 {
		fmt.Fprintf(cc.e.stdout, "not uploaded, larger than the server's item limit (still pending): %s\n", strings.Join(rep.TooLarge, ", "))
	}
	if len(rep.Corrupt) > 0 {
		return fmt.Errorf("the server refused these items' fingerprints (local corruption?); they stay pending: %s", strings.Join(rep.Corrupt, ", "))
	}
	return nil
}

// context is cancelled by SIGINT/SIGTERM and after --timeout.
func (cc *clientCmd) context() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, cc.timeout)
	return ctx, func() { cancel(); stop() }
}

func (cc *clientCmd) status(args []string) error {
	var asJSON bool
	pos, err := cc.subFlags("status", "status [--json]", args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: syncprint client status [--json]")
	}
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cc.e.stdout, st)
	}
	last := "never"
	if !st.LastSync.IsZero() {
		last = st.LastSync.Local().Format(time.DateTime)
	}
	fmt.Fprintf(cc.e.stdout, "store:      %s\n", cc.store)
	if st.Replica != "" {
		fmt.Fprintf(cc.e.stdout, "replica:    %s\n", st.Replica)
	}
	fmt.Fprintf(cc.e.stdout, "pending:    %d change(s) not yet on the server\n", st.Pending)
	fmt.Fprintf(cc.e.stdout, "last sync:  %s\n", last)
	if st.LastError != "" {
		fmt.Fprintf(cc.e.stdout, "last error: %s\n", st.LastError)
	}
	fmt.Fprintf(cc.e.stdout, "conflicts:  %d\n", st.Conflicts)
	return nil
}

func (cc *clientCmd) conflicts(args []string) error {
	var asJSON bool
	pos, err := cc.subFlags("conflicts", "conflicts [COLL] [--json]", args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("usage: syncprint client conflicts [COLL] [--json]")
	}
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	cc.refreshConflicts(c)
	all, err := c.Conflicts()
	if err != nil {
		return err
	}
	list := all[:0:0]
	for _, cf := range all {
		if len(pos) == 0 || cf.Collection == pos[0] {
			list = append(list, cf)
		}
	}
	if asJSON {
		return writeJSON(cc.e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(cc.e.stdout, "no conflicts")
		return nil
	}
	tw := tabwriter.NewWriter(cc.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFLICT\tWHERE\tREASON\tITEM\tAUTHOR\tCONTENT")
	for _, cf := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\n", cf.ConflictID, cf.Kind, cf.Reason, cf.Collection, cf.ID, cf.Replica, preview(cf.Content, cf.Deleted))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(cc.e.stdout, "resolve with: syncprint client resolve COLL ID --use CONFLICT | --keep-current | --value V | --delete")
	return nil
}

func preview(b []byte, deleted bool) string {
	if deleted {
		return "(deleted)"
	}
	s := string(b)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func (cc *clientCmd) resolve(args []string) error {
	var use, value, valueFile string
	var del, keep bool
	pos, err := cc.subFlags("resolve", "resolve COLL ID (--use CONFLICT_ID | --value V | --value-file F | --delete | --keep-current)", args, func(fs *flagSet) {
		fs.StringVar(&use, "use", "", "make the version kept in this conflict record current")
		fs.StringVar(&value, "value", "", "write this content")
		fs.StringVar(&valueFile, "value-file", "", "write the content of this file (- for standard input)")
		fs.BoolVar(&del, "delete", false, "delete the item")
		fs.BoolVar(&keep, "keep-current", false, "keep the current version and discard the others")
	})
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: syncprint client resolve COLL ID (--use CONFLICT_ID | --value V | --value-file F | --delete | --keep-current)")
	}
	var r clientd.Resolution
	n := 0
	if use != "" {
		r.UseConflict, n = use, n+1
	}
	if value != "" {
		r.Content, n = []byte(value), n+1
	}
	if valueFile != "" {
		var b []byte
		if valueFile == "-" {
			b, err = io.ReadAll(io.LimitReader(cc.e.stdin, maxStdinItem))
		} else {
			b, err = os.ReadFile(valueFile)
		}
		if err != nil {
			return fmt.Errorf("read --value-file: %w", err)
		}
		r.Content, n = b, n+1
	}
	if del {
		r.Delete, n = true, n+1
	}
	if keep {
		r.KeepCurrent, n = true, n+1
	}
	if n != 1 {
		return usagef("resolve needs exactly one of --use, --value, --value-file, --delete, --keep-current")
	}
	c, err := cc.open(cc.server != "" && cc.token != "")
	if err != nil {
		return err
	}
	defer c.Close()
	cc.refreshConflicts(c)
	ctx, cancel := cc.context()
	defer cancel()
	if err := c.Resolve(ctx, pos[0], pos[1], r); err != nil {
		return notFound(fmt.Errorf("resolve %s/%s: %w", pos[0], pos[1], err), pos[0], pos[1])
	}
	fmt.Fprintf(cc.e.stdout, "resolved %s/%s\n", pos[0], pos[1])
	return nil
}

// refreshTimeout bounds the refresh of server conflict records before
// conflicts and resolve, so that an offline device lists its cache soon.
const refreshTimeout = 3 * time.Second

// refreshConflicts brings the cached server conflict records up to date
// when a server is configured, so that a record another device's sync made
// shows without syncing first; offline, it says the list is the one of the
// last sync.
func (cc *clientCmd) refreshConflicts(c *clientd.Client) {
	if cc.server == "" || cc.token == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	if err := c.RefreshConflicts(ctx); err != nil {
		fmt.Fprintf(cc.e.stderr, "syncprint: could not reach the server (%v); server records as of the last sync\n", err)
	}
}

func (cc *clientCmd) history(args []string) error {
	var asJSON bool
	var limit int
	pos, err := cc.subFlags("history", "history [COLL [ID]] [--limit N] [--json]", args, func(fs *flagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.IntVar(&limit, "limit", 50, "entries to show")
	})
	if err != nil {
		return err
	}
	if len(pos) > 2 {
		return usagef("usage: syncprint client history [COLL [ID]] [--limit N] [--json]")
	}
	pos = append(pos, "", "")
	c, err := cc.open(false)
	if err != nil {
		return err
	}
	defer c.Close()
	hist, err := c.History(pos[0], pos[1], limit)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cc.e.stdout, hist)
	}
	tw := tabwriter.NewWriter(cc.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tITEM\tCHANGE\tAUTHOR\tSOURCE\tFINGERPRINT")
	for _, h := range hist {
		change := "put"
		if h.Deleted {
			change = "delete"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\n", h.Time.Local().Format(time.DateTime), h.Collection, h.ID, change, h.Author, h.Source, h.Fingerprint.String()[:16])
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressPrinter draws one updating status line on a terminal.
func progressPrinter(w io.Writer) func(clientd.ProgressEvent) {
	return func(ev clientd.ProgressEvent) {
		line := fmt.Sprintf("\r%s: %s", ev.Collection, ev.String())
		if ev.Done {
			line += "\n"
		}
		fmt.Fprint(w, strings.TrimRight(line, " "))
	}
}
