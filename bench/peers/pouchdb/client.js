#!/usr/bin/env node
// The peer's client runner of `syncprint bench`: one step of a workload
// with pouchdb-node (LevelDB on disk) replicating with the PouchDB server,
// speaking the harness's JSON-lines contract (internal/bench/job.go):
// a Job on stdin, {"phase":"ready"}, "go", {"phase":"timed",...},
// "verify", {"phase":"verified",...}.
//
// A document is {_id: itemID(i), body: content}: the same IDs and the same
// content bytes as Syncprint's items.
'use strict';

const readline = require('readline');
const PouchDB = require('pouchdb-node');
const { itemID, content } = require('./content');

const DEFAULT_BATCH = 1000; // PouchDB's own default is 100; 1000 is ~2x faster here
const PUT_CHUNK = 5000;

const lines = readline.createInterface({ input: process.stdin, terminal: false });
const queue = [];
let waiting = null;
let closed = false;
lines.on('line', (l) => { if (waiting) { const w = waiting; waiting = null; w(l); } else queue.push(l); });
lines.on('close', () => { closed = true; if (waiting) { const w = waiting; waiting = null; w(null); } });
function nextLine() {
  if (queue.length) return Promise.resolve(queue.shift());
  if (closed) return Promise.resolve(null);
  return new Promise((resolve) => { waiting = resolve; });
}
function send(msg) { process.stdout.write(JSON.stringify(msg) + '\n'); }

function each(r, fn) {
  const step = Math.max(r.step || 1, 1);
  for (let i = r.from; i < r.to; i += step) fn(i);
}
function holds(r, i) {
  const step = Math.max(r.step || 1, 1);
  return i >= r.from && i < r.to && (i - r.from) % step === 0;
}

// putDocs writes (id -> body) into db as new revisions of the documents.
async function putDocs(db, bodies) {
  const ids = [...bodies.keys()];
  for (let k = 0; k < ids.length; k += PUT_CHUNK) {
    const chunk = ids.slice(k, k + PUT_CHUNK);
    const cur = await db.allDocs({ keys: chunk });
    const docs = chunk.map((id, j) => {
      const row = cur.rows[j];
      const doc = { _id: id, body: bodies.get(id) };
      if (row && row.value && !row.value.deleted) doc._rev = row.value.rev;
      return doc;
    });
    const res = await db.bulkDocs(docs);
    for (const r of res) if (r.error) throw new Error(`put ${r.id}: ${r.name}: ${r.message}`);
  }
}

function rangesToBodies(spec, ranges) {
  const bodies = new Map();
  for (const r of ranges) each(r, (i) => { const id = itemID(i); bodies.set(id, content(spec, id, r.tag)); });
  return bodies;
}

async function replicate(local, remote, direction, batch) {
  const opts = { batch_size: batch, batches_limit: 10 };
  switch (direction) {
    case 'pull': { const r = await local.replicate.from(remote, opts); return { downloaded: r.docs_written }; }
    case 'push': { const r = await local.replicate.to(remote, opts); return { uploaded: r.docs_written }; }
    case 'both': {
      const r = await local.sync(remote, opts);
      return { uploaded: r.push.docs_written, downloaded: r.pull.docs_written };
    }
    default: throw new Error(`unknown direction ${direction}`);
  }
}

function revOrder(rev) {
  const [n, hash] = rev.split('-');
  return [Number(n), hash];
}
function revGreater(a, b) {
  const [na, ha] = revOrder(a);
  const [nb, hb] = revOrder(b);
  return na !== nb ? na > nb : ha > hb;
}

async function verify(db, spec, e) {
  const tagOf = (i) => { for (let k = e.tags ? e.tags.length - 1 : -1; k >= 0; k--) if (holds(e.tags[k], i)) return e.tags[k].tag; return e.base_tag; };
  const inConflict = (i) => (e.conflicts || []).some((c) => holds(c, i));
  const info = await db.info();
  if (info.doc_count !== e.items) throw new Error(`store holds ${info.doc_count} documents, want ${e.items}`);
  let ids = [];
  if (e.only_listed) {
    for (const r of e.tags || []) each(r, (i) => { if (!inConflict(i)) ids.push(i); });
  } else {
    for (let i = 0; i < e.items; i++) if (!inConflict(i)) ids.push(i);
  }
  for (let k = 0; k < ids.length; k += PUT_CHUNK) {
    const chunk = ids.slice(k, k + PUT_CHUNK);
    const res = await db.allDocs({ keys: chunk.map(itemID), include_docs: true, conflicts: true });
    res.rows.forEach((row, j) => {
      const i = chunk[j];
      if (!row.doc) throw new Error(`item ${itemID(i)} is missing`);
      const want = content(spec, itemID(i), tagOf(i));
      if (row.doc.body !== want) throw new Error(`item ${itemID(i)}: content is not version ${tagOf(i)}`);
      if (row.doc._conflicts && row.doc._conflicts.length) throw new Error(`item ${itemID(i)}: unexpected conflict`);
    });
  }
  // Conflicts: both versions kept (no version lost); the winner is the
  // greater revision, CouchDB's deterministic rule.
  for (const c of e.conflicts || []) {
    const cids = [];
    each(c, (i) => cids.push(itemID(i)));
    const res = await db.allDocs({ keys: cids, include_docs: true, conflicts: true });
    for (const row of res.rows) {
      const id = row.key;
      if (!row.doc) throw new Error(`item ${id} is missing`);
      const confl = row.doc._conflicts || [];
      if (confl.length !== 1) throw new Error(`item ${id}: ${confl.length} conflicting revisions, want 1`);
      const loser = await db.get(id, { rev: confl[0] });
      const a = content(spec, id, c.tag_a), b = content(spec, id, c.tag_b);
      const got = [row.doc.body, loser.body].sort().join('\n');
      if (got !== [a, b].sort().join('\n')) throw new Error(`item ${id}: the two versions are not ${c.tag_a} and ${c.tag_b}`);
      if (!revGreater(row.doc._rev, confl[0])) throw new Error(`item ${id}: winner ${row.doc._rev} is not the greater revision (${confl[0]})`);
    }
  }
}

function percentile(sorted, q) {
  if (!sorted.length) return 0;
  const k = Math.ceil(q * sorted.length);
  return sorted[Math.min(Math.max(k - 1, 0), sorted.length - 1)];
}

async function prepare(job) {
  const batch = job.batch_size || DEFAULT_BATCH;
  switch (job.op) {
    case 'put': {
      const db = new PouchDB(job.store);
      await db.info();
      return {
        timed: async () => { await putDocs(db, rangesToBodies(job.content, job.edits || [])); return {}; },
        verify: async () => {},
        close: () => db.close(),
      };
    }
    case 'sync': {
      const db = new PouchDB(job.store);
      await db.info();
      const remote = new PouchDB(job.server + '/' + job.collection);
      return {
        timed: () => replicate(db, remote, job.direction, batch),
        verify: async () => { if (job.expect) await verify(db, job.content, job.expect); },
        close: () => db.close(),
      };
    }
    case 'many':
      return prepareMany(job, batch);
    default:
      throw new Error(`unknown op ${job.op}`);
  }
}

async function prepareMany(job, batch) {
  const m = job.many;
  const clients = m.clients.map((c) => ({
    db: new PouchDB(c.store),
    remote: new PouchDB(job.server + '/' + c.collection),
  }));
  // Setup, untimed: each client writes its items and syncs them, a few at a time.
  const initial = rangesToBodies(job.content, [{ from: 0, to: m.items, tag: 'm0' }]);
  for (let k = 0; k < clients.length; k += 8) {
    await Promise.all(clients.slice(k, k + 8).map(async (c) => {
      await putDocs(c.db, initial);
      await replicate(c.db, c.remote, 'both', batch);
    }));
  }
  // The clients' edit-and-sync cycles for durationMs; tag tells a phase's
  // content from another's.
  const run = async (durationMs, tag) => {
    const start = Date.now();
    const deadline = start + durationMs;
    const res = { clients: clients.length, syncs: 0, errors: 0, edited: 0, applied: 0 };
    const lat = [];
    await Promise.all(clients.map(async (c, k) => {
      let next = start + (m.interval_ms > 0 ? (m.interval_ms * k) / clients.length : 0);
      for (let cycle = 1; ; cycle++) {
        // The window is [start, deadline), as the Go runner's (paceCycles):
        // a cycle due at the deadline is the next window's. Never sleep
        // past the deadline for a cycle that will not start.
        if (next >= deadline) return;
        const d = next - Date.now();
        if (d > 0) await new Promise((r) => setTimeout(r, d));
        if (Date.now() > deadline) return;
        next += m.interval_ms;
        const bodies = new Map();
        for (let j = 0; j < m.edits; j++) {
          const id = itemID(((cycle - 1) * m.edits + j) % m.items);
          bodies.set(id, content(job.content, id, tag + cycle));
        }
        res.edited += bodies.size;
        try {
          await putDocs(c.db, bodies);
          const t0 = process.hrtime.bigint();
          const r = await replicate(c.db, c.remote, 'both', batch);
          lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
          res.syncs++;
          res.applied += r.uploaded || 0;
        } catch (err) {
          res.errors++;
          if (!res.first_error) res.first_error = String(err && err.message || err);
        }
      }
    }));
    res.seconds = (Date.now() - start) / 1000;
    lat.sort((a, b) => a - b);
    res.sync_p50_ms = percentile(lat, 0.5);
    res.sync_p99_ms = percentile(lat, 0.99);
    res.sync_max_ms = lat.length ? lat[lat.length - 1] : 0;
    return res;
  };
  // Warm-up, untimed: the same load, so that the timed phase measures a
  // server that has been serving (ManySpec.WarmupMillis).
  if (m.warmup_ms > 0) {
    const w = await run(m.warmup_ms, 'w');
    if (w.errors > 0) throw new Error(`warm-up: ${w.errors} of ${w.errors + w.syncs} syncs failed, the first: ${w.first_error}`);
  }
  return {
    timed: async () => {
      const res = await run(m.duration_ms, 'm');
      return { uploaded: res.applied, many: res };
    },
    verify: async () => {
      for (const c of clients) {
        await replicate(c.db, c.remote, 'both', batch);
        const [l, r] = await Promise.all([c.db.info(), c.remote.info()]);
        if (l.doc_count !== m.items || r.doc_count !== m.items) throw new Error(`client ${c.db.name}: ${l.doc_count} local and ${r.doc_count} server documents, want ${m.items}`);
      }
    },
    close: () => Promise.all(clients.map((c) => c.db.close())),
  };
}

async function main() {
  const first = await nextLine();
  if (first === null) throw new Error('no job on stdin');
  const job = JSON.parse(first);
  const st = await prepare(job);
  send({ phase: 'ready' });
  if ((await nextLine()) !== 'go') return st.close();
  const t0 = process.hrtime.bigint();
  const out = await st.timed();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  send(Object.assign({ phase: 'timed', ms }, out));
  if ((await nextLine()) === 'verify') {
    try {
      await st.verify();
      send({ phase: 'verified', verified: true });
    } catch (err) {
      send({ phase: 'verified', verified: false, verify_error: String(err && err.message || err) });
    }
  }
  await st.close();
}

main().then(() => process.exit(0), (err) => {
  send({ phase: 'error', error: String(err && err.stack || err) });
  process.exit(1);
});
