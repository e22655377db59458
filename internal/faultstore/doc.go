// Package faultstore wraps a server store (serverd/storage.Store) to inject
// storage faults the way SQLite's I/O-error tests do: the k-th write of a
// transaction fails, the k-th commit fails (rolled back), the k-th commit
// reaches the disk but reports an error (an fsync error after the data
// landed: the ambiguous case), or the disk fills up and every write from
// some point on fails with ENOSPC until the fault heals.
//
// It is test code with no test-only build tag so that tests in other
// packages can use it; nothing outside tests imports it. Plug it into a
// server with serverd.Config.WrapStore:
//
//	fs := faultstore.New()
//	srv, _ := serverd.Open(serverd.Config{DataDir: dir, WrapStore: fs.Wrap})
//	fs.Arm(faultstore.Fault{Kind: faultstore.FailCommit, K: 3})
//
// Counting starts when a fault is armed: K=1 is the first write (or
// commit) after Arm. A write is any Tx or Collection method that changes
// the store; a commit is an Update whose function returned nil.
//
// Faults are injected above the backend, into the write functions. The
// bbolt backend commits queued writes together and, when one function of
// a group fails, runs each again alone: an injected failure in a group of
// several is then followed by a fresh (counted) attempt of that function,
// as a real transient failure would be. SetSlow makes writes slow so that
// concurrent writers do queue up.
package faultstore
