// Package changelog owns per-replica change tracking: the [Entry] that
// describes one item's latest change (no content), the per-collection
// sequence [Seq], the [ReplicaID] of the device that made a change, the
// hybrid logical clock [HLC], and the [Log] contract that server and client
// stores implement.
//
// A Log keeps, for each item of one collection, only its latest entry, and
// orders entries by Seq: appending an entry for an item that already has one
// moves the item to the head of the log. Reading "everything since Seq n" is
// therefore the change info of a sync session (spec/PROTOCOL.md section 6),
// and its size depends on how many items changed, not on how often.
//
// [MemLog] is the in-memory reference implementation; package
// [github.com/syncprint/syncprint/changelog/boltstore] stores a Log in a
// bbolt bucket inside the caller's transaction, so that the change log, the
// content and whatever else a store keeps commit together.
package changelog
