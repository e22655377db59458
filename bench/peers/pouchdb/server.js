#!/usr/bin/env node
// The peer server of `syncprint bench`: express-pouchdb (a CouchDB-style
// REST interface, the CouchDB replication protocol) on express 4, over
// pouchdb-node (LevelDB) storing every database on disk under --dir.
//
//   node server.js --dir DIR [--port 0] [--host 127.0.0.1]
//
// It prints one JSON line {"ready":true,"port":N,"pid":P} on stdout when it
// listens, and stops on SIGTERM/SIGINT after closing its databases.
'use strict';

const path = require('path');
const fs = require('fs');

function args(argv) {
  const out = { port: '0', host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const val = argv[++i];
    if (val === undefined) throw new Error(`${a} needs a value`);
    out[key] = val;
  }
  if (!out.dir) throw new Error('--dir DIR is required');
  return out;
}

function main() {
  const opts = args(process.argv.slice(2));
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true });
  const express = require('express');
  const PouchDB = require('pouchdb-node').defaults({ prefix: dir + path.sep });
  const app = express();
  // The server's UUID, kept in the data dir as CouchDB keeps its own, and
  // answered at the root as CouchDB does: PouchDB derives a replication's
  // ID (and so finds its checkpoint) from it, so a server restarted on
  // another port, or through another proxy, continues a replication where
  // it stopped instead of starting over.
  if (process.env.SYNCPRINT_BENCH_PEER_LOG) {
    // Every request on stderr (the harness keeps it in server.log).
    app.use((req, res, next) => {
      const t0 = Date.now();
      res.on('finish', () => process.stderr.write(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - t0}ms\n`));
      next();
    });
  }
  const uuidFile = path.join(dir, 'server.uuid');
  if (!fs.existsSync(uuidFile)) fs.writeFileSync(uuidFile, require('crypto').randomBytes(16).toString('hex'));
  const uuid = fs.readFileSync(uuidFile, 'utf8').trim();
  app.get('/', (req, res) => {
    res.json({ couchdb: 'Welcome', uuid, vendor: { name: 'express-pouchdb (syncprint bench peer)' }, version: '4.2.0' });
  });
  // minimumForPouchDB: what PouchDB's replication needs, without Fauxton,
  // the config file, the log file and the _users machinery; express-pouchdb
  // still gzips responses for clients that accept it (its
  // 'compression' part), as CouchDB does not by default but this server does.
  app.use('/', require('express-pouchdb')(PouchDB, {
    mode: 'minimumForPouchDB',
    inMemoryConfig: true,
    logPath: path.join(dir, 'log.txt'),
  }));
  const server = app.listen(Number(opts.port), opts.host, () => {
    process.stdout.write(JSON.stringify({ ready: true, port: server.address().port, pid: process.pid }) + '\n');
  });
  server.keepAliveTimeout = 60000;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    // Databases opened by express-pouchdb are closed with the process;
    // LevelDB writes every batch to its log before answering.
    setImmediate(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

try {
  main();
} catch (err) {
  process.stderr.write(`pouchdb server: ${err.stack || err}\n`);
  process.exit(1);
}
