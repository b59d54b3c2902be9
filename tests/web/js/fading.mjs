// Fading (docs/protocol.md §10.2 "Class") between browser nodes (node.js) in this process, for
// tests/web/test_js_fading.py. stdin: {fresh: [dead hex, live hex], faded: [dead hex, live
// hex]}: one post each, as a copy with no hops left and one with hops to spare; the fresh post
// was created a minute ago, the faded one three hours ago. stdout: one JSON object of facts.

import { readFileSync } from 'node:fs';
import { Node, newIdentity } from '../../../meshnode/daemon/web/static/app/node.js';
import { Frame } from '../../../meshnode/daemon/web/static/app/frames.js';
import { hex, unhex } from '../../../meshnode/daemon/web/static/app/msgpack.js';
import { decodeMessage, messageId } from '../../../meshnode/daemon/web/static/app/wire.js';
import { link, settle } from './pipe.mjs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const idOf = (data) => hex(messageId(decodeMessage(data)));
const node = () => new Node(newIdentity(), [], { put: () => null, drop: () => null });
const hopsAt = (n, data) => { const r = n.held.get(idOf(data)); return r ? decodeMessage(r.data).hops : null; };
const msgIds = (session) => session.fromA.filter((f) => f.type === Frame.MSG).map((f) => idOf(f.data));

const [freshDead, freshLive] = input.fresh.map(unhex);
const [fadedDead, fadedLive] = input.faded.map(unhex);
const dead = node(); const live = node(); const lacking = node();
for (const data of [freshDead, fadedDead]) await dead.accept(data).catch((e) => e);
for (const data of [freshLive, fadedLive]) await live.accept(data).catch((e) => e);
await settle(dead, live);

const facts = {
  classes_at_live: [freshLive, fadedLive].map((d) => live.classOf(live.held.get(idOf(d)))),
};
const sessions = [];
for (let i = 0; i < 2; i++) sessions.push(await link(live, dead));
facts.sent_by_live = sessions.map(msgIds);
facts.hops_at_dead = [freshDead, fadedDead].map((d) => hopsAt(dead, d));
await link(live, lacking);
facts.hops_at_lacking = [freshLive, fadedLive].map((d) => hopsAt(lacking, d));
process.stdout.write(JSON.stringify(facts));
