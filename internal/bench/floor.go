package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/syncprint/syncprint/changelog"
	"github.com/syncprint/syncprint/fingerprint"
	"github.com/syncprint/syncprint/internal/gcfloor"
	"github.com/syncprint/syncprint/protocol"
	"github.com/syncprint/syncprint/serverd/boltdb"
	"github.com/syncprint/syncprint/serverd/storage"
)

// floorReps is how many times the floor is measured (the median counts),
// after floorWarmups reps that are not timed.
const (
	floorReps    = 5
	floorWarmups = 3
)

// Floor is the least time moving n items can take with Syncprint's
// design, measured in-process with no network and no server logic: for
// every batch of the items, hash each item (BLAKE3 fingerprint), encode
// the batch as an exchange request, decode it, and write it into a bbolt
// store on disk (serverd/boltdb) in one durable commit. A batch is as
// large as the workload's: a page of change info with content for the
// pull (clientd.DownloadBatchItems), an exchange of max_batch_items
// uploads for the push (the server's default). The target for
// pull and push is 1.3x their floor.
//
// Millis is measured in the harness's process after untimed reps: a warm
// process, the least time. NewProcess is the same work measured as the
// timed steps are, each rep in a new runner process on a store it has
// just opened (OpFloor), after the same untimed runs as a step: it
// shows how much of a step's time a new process costs by itself.
type Floor struct {
	Workload   string  `json:"workload"`
	Items      int     `json:"items"`
	Batch      int     `json:"batch"`
	Commits    int     `json:"commits"`
	Millis     Stat    `json:"ms"`
	Note       string  `json:"note"`
	PerItem    float64 `json:"us_per_item"`
	NewProcess *Stat   `json:"new_process_ms,omitempty"`
}

// floorItems returns the IDs and contents of n items of spec, as the
// workloads' items.
func floorItems(n int, spec ContentSpec) (ids []string, contents [][]byte) {
	ids = make([]string, n)
	contents = make([][]byte, n)
	for i := range n {
		ids[i] = itemID(i)
		contents[i] = Content(spec, ids[i], "v1")
	}
	return ids, contents
}

// measureFloor measures the floor of workload for n items of spec in
// batches of batch items, in dir.
func measureFloor(dir, workload string, n, batch int, spec ContentSpec) (*Floor, error) {
	ids, contents := floorItems(n, spec)
	// The timed processes run with a floor under their heap target
	// (cmd/syncprint, internal/gcfloor); so does the floor. Reps that are
	// not timed grow the heap to it first: the least time is a warm process's
	// (the bench's heap has no huge pages, and its first touch of each
	// page of fresh memory is dear on a virtual machine).
	defer gcfloor.Start(gcfloor.DefaultFloor)()
	var times []float64
	for rep := -floorWarmups; rep < floorReps; rep++ {
		path := filepath.Join(dir, fmt.Sprintf("floor-%d.db", rep))
		st, err := boltdb.Open(path, boltdb.Options{})
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		start := time.Now()
		err = floorOnce(st, ids, contents, batch)
		d := time.Since(start)
		_ = st.Close()
		_ = os.Remove(path)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		if rep >= 0 {
			times = append(times, float64(d.Microseconds())/1000)
		}
	}
	f := &Floor{Workload: workload, Items: n, Batch: batch, Commits: (n + batch - 1) / batch, Millis: statOf(times),
		Note: "hash + encode + decode + one durable bbolt commit per batch, in one process"}
	f.PerItem = f.Millis.Median * 1000 / float64(n)
	return f, nil
}

func floorOnce(st storage.Store, ids []string, contents [][]byte, batch int) error {
	hlc := changelog.NewHLC(uint64(time.Now().UnixMilli()), 0)
	for lo := 0; lo < len(ids); lo += batch {
		hi := min(lo+batch, len(ids))
		req := protocol.ExchangeRequest{Collection: benchCollection, BatchID: fmt.Sprintf("floor-batch-%08d", lo)}
		for i := lo; i < hi; i++ {
			fp := fingerprint.Of(ids[i], false, contents[i])
			req.Uploads = append(req.Uploads, protocol.Upload{ID: ids[i], FP: fp.Bytes(), HLC: uint64(hlc), Content: contents[i]})
		}
		body, err := protocol.Marshal(&req)
		if err != nil {
			return err
		}
		var got protocol.ExchangeRequest
		if err := protocol.Unmarshal(body, &got); err != nil {
			return err
		}
		err = st.Update(context.Background(), func(tx storage.Tx) error {
			coll, err := tx.Collection(benchUser, benchCollection)
			if err != nil {
				return err
			}
			for _, u := range got.Uploads {
				fp, err := fingerprint.FromBytes(u.FP)
				if err != nil {
					return err
				}
				e := changelog.Entry{ID: u.ID, Fingerprint: fp, HLC: changelog.HLC(u.HLC), Replica: "bench/floor"}
				if _, err := coll.Put(e, u.Content); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// measureFloorNewProcess measures f's work again as the timed steps are
// measured: floorReps reps, each in a new runner process on a store it
// has just opened, each after the untimed runs of a step
// (Config.WarmupRuns), in processes of their own too. It sets
// f.NewProcess.
func (h *harness) measureFloorNewProcess(ctx context.Context, f *Floor) error {
	s := h.system(Syncprint)
	dir := filepath.Join(h.cfg.WorkDir, Syncprint, "floor-"+f.Workload)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("floor in a new process: %w", err)
	}
	defer os.RemoveAll(dir)
	var times []float64
	for rep := range floorReps {
		for k := 0; k <= h.cfg.WarmupRuns; k++ {
			timed := k == h.cfg.WarmupRuns
			store := filepath.Join(dir, "floor.db")
			if err := os.Remove(store); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("floor in a new process: %w", err)
			}
			job := Job{Op: OpFloor, Store: store, Collection: benchCollection, Content: h.cfg.contentSpec(),
				Floor: &FloorSpec{Items: f.Items, Batch: f.Batch}}
			st, err := runStep(ctx, s.runner(), dir, job, nil, Link{}, true)
			if err != nil {
				return fmt.Errorf("floor in a new process: %w", err)
			}
			if st.Verified == nil || !st.Verified.Verified {
				why := "not verified"
				if st.Verified != nil {
					why = st.Verified.VerifyError
				}
				return fmt.Errorf("floor in a new process: rep %d: %s", rep+1, why)
			}
			if timed {
				times = append(times, st.Timed.Millis)
			}
		}
	}
	stat := statOf(times)
	f.NewProcess = &stat
	return nil
}

// prepareFloor prepares OpFloor: the items, and the store opened.
func prepareFloor(job Job) (step, error) {
	fs := job.Floor
	if fs == nil || fs.Items <= 0 || fs.Batch <= 0 {
		return step{}, fmt.Errorf("floor: want items and a batch size, got %+v", fs)
	}
	ids, contents := floorItems(fs.Items, job.Content)
	st, err := boltdb.Open(job.Store, boltdb.Options{})
	if err != nil {
		return step{}, fmt.Errorf("floor: %w", err)
	}
	return step{
		timed: func(context.Context) (Message, error) {
			if err := floorOnce(st, ids, contents, fs.Batch); err != nil {
				return Message{}, fmt.Errorf("floor: %w", err)
			}
			return Message{Uploaded: len(ids)}, nil
		},
		verify: func(ctx context.Context) error {
			return st.View(ctx, func(tx storage.Tx) error {
				coll, err := tx.Collection(benchUser, benchCollection)
				if err != nil {
					return err
				}
				head, err := coll.Head()
				if err != nil {
					return err
				}
				if int(head) != len(ids) {
					return fmt.Errorf("floor: the store's head is %d, want %d", head, len(ids))
				}
				for _, k := range []int{0, len(ids) / 2, len(ids) - 1} {
					got, err := coll.Content(ids[k])
					if err != nil {
						return err
					}
					if !bytes.Equal(got, contents[k]) {
						return fmt.Errorf("floor: item %s has %d bytes of other content", ids[k], len(got))
					}
				}
				return nil
			})
		},
		close: func() { _ = st.Close() },
	}, nil
}
