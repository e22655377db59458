package serverd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

// Backups and restores of a data set, and the epoch rule that makes them
// safe [SP-3-14]. A data set put back from a copy has lost every write made
// after the copy, and versions after its head will be assigned again; so
// the server that opens it takes a new epoch. Cursors of the old epoch are
// then cursor_expired, and every client pulls its collections again and
// uploads what only it still holds (SP-6.6-4).
//
// A backup is an ordinary bbolt file. MarkRestored clears its epoch, so the
// server that opens it creates a new one (and remembers the old one as
// restored_from); Restore installs a backup in a data directory and marks
// it. `syncprint backup` marks the copies it writes, so a backup file put in
// place by hand is safe too.

// metaRestoredFrom holds the epoch of the data set a restored copy was made
// from (for the log; never read otherwise).
const metaRestoredFrom = "restored_from"

// Errors of backups and restores.
var (
	// ErrNotDataSet is returned by MarkRestored and Restore for a file that
	// is a bbolt file but not a Syncprint data set.
	ErrNotDataSet = errors.New("serverd: not a Syncprint data set")
	// ErrNoBackup is returned by Server.Backup when the storage backend
	// cannot copy itself while running.
	ErrNoBackup = errors.New("serverd: the storage backend has no hot backup")
)

// backuper is a store that can copy itself while it serves (boltdb.Store).
type backuper interface {
	Backup(w io.Writer) (int64, error)
}

// Backup writes a consistent copy of the running server's data set to w
// while the server goes on serving (writes committed after it started are
// not in the copy). It returns the bytes written. The copy is not yet
// marked as restored: MarkRestored it once written to a file (Restore does),
// so that a server opening it takes a new epoch. Shutdown waits for a
// backup in progress; cancelling ctx ends it with an error.
func (s *Server) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if !s.enter() {
		return 0, fmt.Errorf("backup: %w", ErrClosed)
	}
	defer s.inflight.Done()
	b, ok := s.store.(backuper)
	if !ok {
		return 0, fmt.Errorf("backup: %w", ErrNoBackup)
	}
	n, err := b.Backup(ctxWriter{ctx, w})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// BackupDataDir writes a copy of the data set of the data directory dir,
// which no server may have open (else ErrDataDirLocked: ask that server,
// Server.Backup), to w.
func BackupDataDir(ctx context.Context, dir string, w io.Writer) (int64, error) {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("backup %s: %w", dir, err)
	}
	st, err := openLocked(path)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", dir, err)
	}
	n, err := st.Backup(ctxWriter{ctx, w})
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", dir, err)
	}
	return n, nil
}

// MarkRestored marks the data set in the file at path (a copy made by
// Backup or BackupDataDir, or a data directory's syncprint.db copied by
// other means) so that the server that opens it next takes a new epoch
// [SP-3-14]. It returns the epoch the copy had ("" when it was marked
// already) and fails with ErrNotDataSet for a file that is no data set.
func MarkRestored(path string) (string, error) {
	st, err := openLocked(path)
	if err != nil {
		return "", fmt.Errorf("mark %s restored: %w", path, err)
	}
	var old []byte
	err = st.Update(context.Background(), func(tx storage.Tx) error {
		secret, err := tx.Meta(metaSecret)
		if err != nil {
			return err
		}
		if len(secret) == 0 {
			return ErrNotDataSet
		}
		if old, err = tx.Meta(metaEpoch); err != nil {
			return err
		}
		if len(old) > 0 {
			if err := tx.PutMeta(metaRestoredFrom, old); err != nil {
				return err
			}
		}
		return tx.PutMeta(metaEpoch, []byte{})
	})
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("mark %s restored: %w", path, err)
	}
	return string(old), nil
}

// Restore makes the backup file at backup the data set of the data
// directory dir, which no server may have open (else ErrDataDirLocked),
// marked so that the server that opens it takes a new epoch [SP-3-14]. The
// data set it replaces, if any, is kept beside it as
// syncprint.db.replaced-<UTC time>, whose path it returns ("" when there was
// none). The admin token and other files of dir stay as they are.
func Restore(dir, backup string) (replaced string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("restore: create data dir: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	_, statErr := os.Stat(path)
	if statErr == nil {
		// Refuse while a server has it open; nothing is changed then.
		st, err := openLocked(path)
		if err != nil {
			return "", fmt.Errorf("restore %s: %w", dir, err)
		}
		if err := st.Close(); err != nil {
			return "", fmt.Errorf("restore %s: %w", dir, err)
		}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return "", fmt.Errorf("restore %s: %w", dir, statErr)
	}
	tmp := path + ".restoring"
	if err := copyFile(backup, tmp); err != nil {
		return "", fmt.Errorf("restore %s: %w", dir, err)
	}
	if _, err := MarkRestored(tmp); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("restore %s from %s: %w", dir, backup, err)
	}
	if statErr == nil {
		replaced = path + ".replaced-" + time.Now().UTC().Format("20060102T150405.000Z")
		if err := os.Rename(path, replaced); err != nil {
			_ = os.Remove(tmp)
			return "", fmt.Errorf("restore %s: keep the replaced data set: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return replaced, fmt.Errorf("restore %s: %w", dir, err)
	}
	return replaced, syncDir(dir)
}

// openLocked opens a bbolt data set file, failing at once with
// ErrDataDirLocked when a process has it open.
func openLocked(path string) (*boltdb.Store, error) {
	st, err := boltdb.Open(path, boltdb.Options{LockTimeout: 100 * time.Millisecond})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", ErrDataDirLocked, err)
	}
	return st, err
}

// copyFile copies src to a new file dst (mode 0600) and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// syncDir makes the renames in dir durable where the platform allows it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	_ = d.Sync() // not supported on every platform; the renames are done
	return nil
}

// ctxWriter stops a copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// restoredFrom reads, and clears, the epoch a restored copy was made from.
func restoredFrom(tx storage.Tx) (string, error) {
	from, err := tx.Meta(metaRestoredFrom)
	if err != nil || len(from) == 0 {
		return "", err
	}
	return string(from), tx.PutMeta(metaRestoredFrom, []byte{})
}
