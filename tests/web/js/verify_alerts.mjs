// Runs alerts through the browser node's check (app/alerts.js) for tests/web/test_js_alerts.py.
// stdin: a JSON list of cases {name, message (hex), now, roots: [{key, name}], revoked:
// [[root id hex, serial]], seen: [[issuer id, seq]]}; stdout: {name: "ok" or the reason}.
// Or one {book: true, now, roots or saved, steps: [hex messages]}: fed in order to an
// AlertBook; stdout: {verdicts: [...], current: alerts in force after the last step, saved:
// what it would store, roots: [[name, retired]], carried: how many messages it carries}.

import { readFileSync } from 'node:fs';
import { AlertBook, SequenceWindow, makeRoot, verifyAlert }
  from '../../../meshnode/daemon/web/static/app/alerts.js';
import { hex, unhex } from '../../../meshnode/daemon/web/static/app/msgpack.js';

const input = JSON.parse(readFileSync(0, 'utf8'));
const verdict = (got) => (got === null ? 'judged before' : got.ok ? 'ok' : got.reason);

if (input.book) {
  // `saved` (as the page's storage would hold it, messages in hex) instead of `roots`: the
  // book read back from storage.
  let saved = null;
  const state = input.saved ? Object.fromEntries(Object.entries(input.saved).map(([k, v]) =>
    [k, k === 'pins' ? v : v.map(unhex)])) : { pins: input.roots };
  const book = new AlertBook(state, (s) => { saved = s; }, input.now);
  const verdicts = input.steps.map((m) => verdict(book.take(unhex(m), input.now)));
  if (saved) {
    saved = Object.fromEntries(Object.entries(saved).map(([k, v]) =>
      [k, k === 'pins' ? v : v.map(hex)]));
  }
  console.log(JSON.stringify({ verdicts, current: book.current(input.now).length, saved,
    roots: book.roots().map((r) => [r.name, r.retired ?? null]),
    carried: book.lacking({ trustIds: [], alerts: [] }, input.now).length }));
} else {
  const out = {};
  for (const c of input) {
    const trust = { roots: c.roots.map((r) => makeRoot(unhex(r.key), r.name)),
      revoked: new Set(c.revoked.map(([id, serial]) => `${id}:${serial}`)) };
    let seqs = null;
    if (c.seen.length) {
      seqs = new SequenceWindow();
      for (const [issuer, seq] of c.seen) seqs.record(issuer, BigInt(seq));
    }
    out[c.name] = verdict(verifyAlert(unhex(c.message), trust, c.now, { seqs }));
  }
  console.log(JSON.stringify(out));
}
