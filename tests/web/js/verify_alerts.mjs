// Runs alerts through the browser node's check (app/alerts.js) for tests/web/test_js_alerts.py.
// stdin: a JSON list of cases {name, message (hex), now, roots: [{key, name}], revoked:
// [[root id hex, serial]], seen: [[issuer id, seq]]}; stdout: {name: "ok" or the reason}.
// Or one {book: true, now, roots, steps: [hex messages]}: fed in order to an AlertBook;
// stdout: {verdicts: [...], current: alerts in force after the last step}.

import { readFileSync } from 'node:fs';
import { AlertBook, SequenceWindow, makeRoot, verifyAlert }
  from '../../../meshnode/daemon/web/static/app/alerts.js';
import { unhex } from '../../../meshnode/daemon/web/static/app/msgpack.js';

const input = JSON.parse(readFileSync(0, 'utf8'));
const verdict = (got) => (got === null ? 'judged before' : got.ok ? 'ok' : got.reason);

if (input.book) {
  const book = new AlertBook({ pins: input.roots }, () => null, input.now);
  const verdicts = input.steps.map((m) => verdict(book.take(unhex(m), input.now)));
  console.log(JSON.stringify({ verdicts, current: book.current(input.now).length }));
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
