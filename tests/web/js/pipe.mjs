// Two browser nodes (node.js) joined by a lossless in-order pipe, for the Node.js runners of
// tests/web (link.mjs, carry.mjs).

import { Link } from '../../../meshnode/daemon/web/static/app/node.js';
import { decodeFrame } from '../../../meshnode/daemon/web/static/app/frames.js';

/** Until no signature check is under way at `nodes` (bounded: 10 s). */
export async function settle(...nodes) {
  for (let i = 0; i < 1000 && nodes.some((n) => n.checking > 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One exchange between `a` and `b`, run until quiet (bounded). Returns both links, the
 *  closes, the type of every frame either side sent (`sent`) and the frames `a` sent, decoded
 *  (`fromA`). With `restartAt` n, `a` starts over (a new Hello) after the n-th frame it got. */
export async function link(a, b, { restartAt = -1 } = {}) {
  const toA = []; const toB = [];
  const closed = [];
  const sent = [];
  const fromA = [];
  const la = new Link(a, (f) => { fromA.push(decodeFrame(f)); sent.push(fromA.at(-1).type); toB.push(f); },
    (why) => closed.push(`a: ${why}`));
  const lb = new Link(b, (f) => { sent.push(decodeFrame(f).type); toA.push(f); }, (why) => closed.push(`b: ${why}`));
  la.open(); lb.open();
  let delivered = 0;
  for (let i = 0; i < 100000 && (toA.length || toB.length || a.checking || b.checking); i++) {
    if (toA.length) la.receive(toA.shift());
    // `a` starts the exchange over while frames of the current one are still on their way.
    if (toA.length && ++delivered === restartAt) la.open();
    if (toB.length) lb.receive(toB.shift());
    if (i % 16 === 0 || !(toA.length || toB.length)) await settle(a, b); // checks are async
  }
  la.shut(); lb.shut();
  return { la, lb, closed, sent, fromA };
}
