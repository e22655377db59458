package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/syncprint/syncprint/serverd"
)

// Backups of a server's data set and their restore. A running server
// listens on a Unix socket in its data directory (adminSocketFile) that only
// its operating-system user can reach (the data directory is 0700); `syncprint
// backup --data DIR` asks it there for a hot backup, and copies a stopped
// server's data set directly. This is an operator feature of the reference
// server, not part of the protocol: the copy is a bbolt file only this
// implementation reads. Every backup file is marked so that a server that
// opens it takes a new epoch (spec SP-3-14); `syncprint restore` installs one
// and marks it again (so a copy made by other means is safe too).

// adminSocketFile is the Unix socket a running server serves backups on.
const adminSocketFile = "admin.sock"

// Paths of the admin socket's HTTP endpoints.
const (
	adminPathBackup = "/backup"
	// trailerBackupBytes carries the number of bytes a complete backup
	// response holds; a response without it was cut short.
	trailerBackupBytes = "Syncprint-Backup-Bytes"
)

const backupUsage = "syncprint backup --data DIR FILE"
const restoreUsage = "syncprint restore --data DIR FILE"

// startAdminSocket serves the admin socket of a running server until the
// returned stop is called. A socket path the platform cannot bind (too long)
// is reported, and the server runs without it.
func startAdminSocket(srv *serverd.Server, dir string, log *slog.Logger) (stop func(), path string, err error) {
	path = filepath.Join(dir, adminSocketFile)
	// The caller holds the data set's lock, so a socket file left here is
	// from a server that did not stop cleanly.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("admin socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+adminPathBackup, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Trailer", trailerBackupBytes)
		n, err := srv.Backup(r.Context(), w)
		if err != nil {
			log.Error("backup failed", "err", err, "bytes", n)
			// Cut the response short: without the trailer the client
			// knows the copy is incomplete.
			panic(http.ErrAbortHandler)
		}
		w.Header().Set(trailerBackupBytes, strconv.FormatInt(n, 10))
		log.Info("backup written", "bytes", n)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
		_ = os.Remove(path)
	}, path, nil
}

func cmdBackup(e env, args []string) error {
	fs := newFlags("backup", backupUsage, e.stderr)
	data := fs.String("data", "", "the server's data directory (the server may be running)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || fs.NArg() != 1 {
		return usagef("usage: %s", backupUsage)
	}
	file := fs.Arg(0)
	if _, err := os.Stat(filepath.Join(*data, serverd.DBFile)); err != nil {
		return fmt.Errorf("backup: %s holds no data set: %w", *data, err)
	}
	tmp := file + ".partial"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	ctx := context.Background()
	online := false
	n, err := serverd.BackupDataDir(ctx, *data, f)
	if errors.Is(err, serverd.ErrDataDirLocked) {
		online = true
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return fmt.Errorf("backup: %w", serr)
		}
		if terr := f.Truncate(0); terr != nil {
			return fmt.Errorf("backup: %w", terr)
		}
		n, err = backupOnline(ctx, *data, f)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	epoch, err := serverd.MarkRestored(tmp)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	ok = true
	how := "copied from the stopped server's data directory"
	if online {
		how = "taken from the running server"
	}
	fmt.Fprintf(e.stdout, "backup of %s (epoch %s, %d bytes, %s) written to %s\n", *data, epoch, n, how, file)
	fmt.Fprintf(e.stdout, "restore it with the server stopped: syncprint restore --data %s %s\n", *data, file)
	return nil
}

// backupOnline asks the server running on dir for a hot backup through its
// admin socket and writes it to w.
func backupOnline(ctx context.Context, dir string, w io.Writer) (int64, error) {
	sock := filepath.Join(dir, adminSocketFile)
	if _, err := os.Stat(sock); err != nil {
		return 0, fmt.Errorf("%s is in use by a process that serves no admin socket (%v); stop it and run the backup again", dir, err)
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://syncprint-admin"+adminPathBackup, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask the running server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("the running server answered %s: %s", resp.Status, b)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("receive the backup: %w", err)
	}
	if want := resp.Trailer.Get(trailerBackupBytes); want != strconv.FormatInt(n, 10) {
		return n, fmt.Errorf("the backup was cut short: %d bytes received, the server wrote %q", n, want)
	}
	return n, nil
}

func cmdRestore(e env, args []string) error {
	fs := newFlags("restore", restoreUsage, e.stderr)
	data := fs.String("data", "", "the data directory to restore into (no server may run on it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" || fs.NArg() != 1 {
		return usagef("usage: %s", restoreUsage)
	}
	replaced, err := serverd.Restore(*data, fs.Arg(0))
	if errors.Is(err, serverd.ErrDataDirLocked) {
		return fmt.Errorf("restore: a server is running on %s; stop it first", *data)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s into %s\n", fs.Arg(0), *data)
	if replaced != "" {
		fmt.Fprintf(e.stdout, "the data set it replaced is kept as %s\n", replaced)
	}
	fmt.Fprintln(e.stdout, "the server takes a new epoch when it starts: every client pulls its collections again and uploads what only it still holds")
	return nil
}
