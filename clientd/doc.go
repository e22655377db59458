// Package clientd is the embeddable Syncprint client: a local item store in
// one bbolt file that applications read and write offline, and a sync
// session that reconciles it with a Syncprint server over HTTP.
//
// # Basics
//
// [Open] a store, write with [Client.Put], [Client.PutMany] and
// [Client.Delete], read with [Client.Get], [Client.List] and
// [Client.Collections]. Writes never touch the network: they are stamped
// with a hybrid logical clock, marked pending and uploaded by the next
// [Client.Sync]. [Client.Start] runs a background loop that syncs shortly
// after local writes, when the server reports changes (a long-poll on
// /v1/watch), when the app calls [Client.Trigger], and every
// Config.SyncInterval; failures back off exponentially with full jitter and
// honour the server's Retry-After. [Client.Status] shows what the loop is
// doing; [Client.Subscribe] tells the app when a sync changed local data.
//
// # Conflicts
//
// Each collection has a precedence rule chosen by the server (server-wins,
// client-wins, latest-wins or manual). No version is lost: a local version
// that lost to the server's is kept in the client's own conflict log (kind
// "local"), and versions the server set aside are listed from the server's
// conflict records (kind "server", cached at each sync). [Client.Conflicts]
// lists both; [Client.Resolve] closes every record of an item with the
// user's choice. A session lists the server's records into the cache only
// when the server's conflicts_seq (in the collections listing and every
// exchange response) differs from the one stored with the cache, or the
// server sends none; [Client.RefreshConflicts] always lists.
//
// # Sync session
//
// A session fetches /v1/info once, then for every collection (local ones and
// the server's) pulls change-info pages since the stored cursor a segment at
// a time (up to protocol.SegmentEntries items), plans each item of the
// segment with reconcile.PlanItem, and runs exchanges in batches within the
// announced limits, for at most protocol.MaxRounds rounds per segment, before
// it pulls on: a session's memory depends on the segment, never on the size
// of the collection. Pending local items go with the last segment, or after
// it in parts of the same size. A collection with no pending local change
// when its session starts has nothing to compare: its pages, of
// DownloadBatchItems entries, bring the items' contents along (SP-6.1-8),
// each page is a segment of its own, planned and committed with its cursor
// in one local transaction while the next page is fetched, and no exchange
// is needed to download (Config.DownloadsInExchanges turns this off; so do
// InlineBehindLimit bytes or more of the device's own uploads after the
// stored cursor, which the pages would bring back). Every downloaded
// item's fingerprint is verified before anything from its response is
// stored; each response is applied in one local transaction together with
// the cursor. Exchanges are pipelined one deep: the next request is built
// and compressed while an exchange is in flight, all but the cursor it
// carries, which the answer brings and which goes last in the body
// (SP-4.1-2); a response's transaction runs while that request is sent;
// and transactions commit one at a time, in order (Config.SerialExchanges
// turns this off for deterministic simulations).
// A session that starts EarlyPullAfter or more after the last one ended
// asks for its first page (of the first collection by name) beside
// /v1/info rather than after it (SP-3-17), which saves a round trip when
// there is news, and uses it only if the Info that comes is the one the
// client held (its tag) and the page is the one it would ask for then; a
// session that the server's watch started does so at once, for the
// collection the watch named.
// An edit made while an exchange was in flight is detected with
// a per-item edit counter: it stays pending and is planned again in the next
// round (a resolution's write likewise never overwrites it).
//
// When the server answers cursor_expired (its data set was restored or
// replaced: a new epoch), the session forgets the old epoch's versions,
// marks every live item pending and pulls the collection from the start:
// equal fingerprints settle silently, and an item the new data set lacks
// or holds differently goes through the collection's rule, so a version
// that only this device still holds is never dropped.
//
// # Caveats
//
// One process may hold a store at a time (bbolt locks the file). A store
// belongs to one replica (user/device): Sync refuses a token of another
// (ErrWrongReplica). Tombstones of deleted items are kept so that later
// edits carry the right base version. Callbacks (Config.Progress) run on
// the syncing goroutine and must not call Sync, Resolve or Close. The
// store file layout is described in store.go. Beside the store, two files
// named by the store's path + SentLogSuffix + 0 and 1 hold the exchanges
// sent and not yet settled (sentlog.go), so that a process killed between
// sending an exchange and committing its answer does not apply its uploads
// twice: copy or move them with the store; deleting them is safe except
// right after such a kill.
package clientd
