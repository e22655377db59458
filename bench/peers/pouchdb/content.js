// Item IDs and content of `syncprint bench`, byte-identical to
// internal/bench/content.go: mulberry32 seeded with FNV-1a of "id/tag".
'use strict';

const WORDS = [
  'the', 'of', 'and', 'to', 'in', 'is', 'for', 'on', 'with', 'as', 'at', 'by',
  'visit', 'patient', 'clinic', 'report', 'site', 'check', 'pump', 'valve',
  'north', 'south', 'east', 'west', 'field', 'sample', 'water', 'soil',
  'pressure', 'reading', 'normal', 'high', 'low', 'follow', 'up', 'next',
  'week', 'today', 'done', 'open', 'closed', 'pending', 'note', 'team',
  'route', 'depot', 'stock', 'order', 'ship', 'return', 'damaged', 'ok',
  'call', 'back', 'before', 'after', 'morning', 'evening', 'repair', 'parts',
  'install', 'remove', 'replace', 'inspect',
];
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function itemID(i) {
  return 'item-' + String(i).padStart(7, '0');
}

function rng(seed) {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  let a = h >>> 0;
  return function next() {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1) >>> 0;
    t = (t ^ (t + Math.imul(t ^ (t >>> 7), t | 61))) >>> 0;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

// content returns the content string of item id at version tag (ASCII, so
// its length in bytes is spec.size).
function content(spec, id, tag) {
  const next = rng(id + '/' + tag);
  let out = '';
  if (spec.kind === 'random') {
    while (out.length < spec.size) out += B64URL[next() >>> 26];
    return out;
  }
  out = 'id=' + id + ' v=' + tag + ' ref=';
  for (let k = 0; k < 22; k++) out += B64URL[next() >>> 26];
  out += ' note:';
  while (out.length < spec.size) out += ' ' + WORDS[next() >>> 26];
  return out.slice(0, spec.size);
}

module.exports = { itemID, content };
