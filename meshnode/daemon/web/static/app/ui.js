// The page: keys and messages from IndexedDB, the WebSocket to this hub's /sync, the forms.
// Text from the mesh is only ever set as textContent (never parsed as HTML).

import { Link, Node, newIdentity, now } from './node.js';
import { STRINGS } from './strings.js';
import { Store } from './store.js';
import { CHANNEL } from './wire.js';

const PROTOCOL = 'meshnode.sync.v1';
const $ = (id) => document.getElementById(id);
const state = { lang: 'nl', channel: 'buurt', link: null, ws: null, backoff: 1000, lastSync: null,
  contacts: [] };

function t(key, vars = {}) {
  const s = (STRINGS[state.lang] || STRINGS.nl)[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k]));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const time = (s) => new Date(s * 1000).toLocaleString(state.lang === 'en' ? 'en-GB' : 'nl-NL',
  { weekday: 'short', hour: '2-digit', minute: '2-digit' });

/** A typed fingerprint as the app writes it (groups of 4), or null if it is none. */
export function normalFingerprint(s) {
  const raw = s.toUpperCase().replace(/[\s-]/g, '');
  return /^[A-Z2-7]{32}$/.test(raw) ? raw.match(/.{4}/g).join(' ') : null;
}

async function main() {
  const store = await Store.open();
  let identity = await store.identity();
  if (!identity) {
    identity = newIdentity();
    await store.saveIdentity(identity);
  }
  const node = new Node(identity, await store.messages(), {
    put: (r) => store.put(r), drop: (k) => store.drop(k) });
  node.expire();
  state.contacts = await store.contacts();
  state.lang = localStorage.getItem('lang') || (navigator.language.startsWith('nl') ? 'nl' : 'en');
  state.channel = localStorage.getItem('channel') || 'buurt';
  window.meshnode = { node, state }; // for the tests and the curious: read-only use
  let pending = false; // at most four renders a second while a sync brings thousands
  node.onChange(() => {
    if (!pending) { pending = true; setTimeout(() => { pending = false; render(node); }, 250); }
  });
  bind(node, store);
  render(node);
  connect(node);
  setInterval(() => { state.link?.tick(); node.expire(); }, 5000);
  window.addEventListener('online', () => { if (!state.ws) connect(node); });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { $('ready').textContent = t('offlineReady'); $('ready').dataset.ready = '1'; })
      .catch(() => null); // plain http on a LAN address: no service worker (docs/steunpunt.md)
  }
}

function connect(node) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
  let ws;
  try { ws = new WebSocket(url, PROTOCOL); } catch { return retry(node); }
  ws.binaryType = 'arraybuffer';
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 1000;
    state.openedAt = performance.now(); // with syncedAt: what bench/bench_browser_sync.py reads
    state.link = new Link(node, (b) => ws.send(b), () => ws.close(4000, 'protocol'));
    state.link.open();
    render(node);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') { ws.close(1003); return; }
    const link = state.link;
    link.receive(new Uint8Array(ev.data));
    if (link.phase === 'FINISHED' && link.stats.reconciled !== null) {
      if (state.lastSync === null) state.syncedAt = performance.now();
      state.lastSync = now();
      document.body.dataset.synced = String((Number(document.body.dataset.synced) || 0) + 1);
    }
    render(node);
  };
  ws.onclose = () => {
    state.link?.shut();
    state.link = null;
    state.ws = null;
    render(node);
    retry(node);
  };
}

function retry(node) {
  setTimeout(() => { if (!state.ws) connect(node); }, state.backoff);
  state.backoff = Math.min(state.backoff * 2, 15000);
}

function bind(node, store) {
  for (const lang of ['nl', 'en']) {
    $(`lang-${lang}`).onclick = () => { state.lang = lang; localStorage.setItem('lang', lang); render(node); };
  }
  $('name-form').onsubmit = (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    if (name) node.announce(name);
  };
  $('channel-form').onsubmit = (e) => {
    e.preventDefault();
    const c = $('channel-name').value.trim().toLowerCase();
    if (CHANNEL.test(c)) { state.channel = c; localStorage.setItem('channel', c); render(node); }
  };
  $('post-form').onsubmit = (e) => {
    e.preventDefault();
    const text = $('post-text').value.trim();
    if (!text) return;
    node.post(state.channel, text);
    $('post-text').value = '';
  };
  $('contact-form').onsubmit = async (e) => {
    e.preventDefault();
    const fp = normalFingerprint($('contact-fp').value);
    $('contact-error').textContent = fp ? '' : t('badFp');
    if (!fp) return;
    const contact = { fingerprint: fp, added: now() };
    await store.saveContact(contact);
    state.contacts = await store.contacts();
    $('contact-fp').value = '';
    render(node);
  };
  $('dm-form').onsubmit = (e) => {
    e.preventDefault();
    const card = node.cards().get($('dm-to').value);
    const text = $('dm-text').value;
    if (!card || !text.trim()) return;
    node.sendDm(card, text);
    $('dm-text').value = '';
  };
}

function render(node) {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll('[data-t]')) e.textContent = t(e.dataset.t);
  renderStatus(node);
  $('fp').textContent = node.fingerprint;
  // Fill a field only when what it shows changed, never while the resident may be typing.
  const mine = node.cards().get(node.fingerprint);
  fill('name', mine ? mine.name : '');
  fill('channel-name', state.channel);
  $('channels').replaceChildren(...node.channels().map((c) => { const o = el('option'); o.value = c; return o; }));
  renderPosts(node);
  renderContacts(node);
  renderInbox(node);
}

const filled = new Map();

function fill(id, value) {
  if (filled.get(id) === value) return;
  filled.set(id, value);
  if (value) $(id).value = value;
}

function renderStatus(node) {
  const queued = [...node.held.values()].filter((r) => r.mine && r.state === 'queued').length;
  const s = $('status');
  const link = state.link;
  if (!link) s.textContent = t('offline', { n: queued });
  else if (link.phase !== 'FINISHED') s.textContent = `${t('online')}. ${t('syncing')}`;
  else s.textContent = `${t('online')}. ${t('synced', { time: time(state.lastSync || now()) })}`;
  s.className = link ? 'status' : 'status offline';
  s.dataset.phase = link ? link.phase : 'offline';
  s.dataset.queued = String(queued);
}

function who(node, signKeyHex) {
  if (signKeyHex === node.signKeyHex) return t('you');
  return node.nameOf(signKeyHex) || t('unknown');
}

function renderPosts(node) {
  const posts = node.posts(state.channel).slice(0, 200);
  const items = posts.map((p) => {
    const li = el('li', p.mine ? 'post mine' : 'post');
    li.append(el('div', 'meta', `${p.mine ? t('you') : who(node, p.author)} · ${time(p.created)}`
      + (p.mine ? ` · ${t(p.state)}` : '')));
    li.append(el('div', 'text', p.text));
    return li;
  });
  $('posts').replaceChildren(...(items.length ? items : [el('li', 'meta', t('noPosts'))]));
}

function renderContacts(node) {
  const cards = node.cards();
  const byName = new Map();
  for (const c of cards.values()) byName.set(c.name, [...(byName.get(c.name) || []), c.fingerprint]);
  const select = $('dm-to');
  const chosen = select.value;
  const options = [];
  const items = state.contacts.map((contact) => {
    const card = cards.get(contact.fingerprint);
    const li = el('li', 'contact');
    li.dataset.fingerprint = contact.fingerprint;
    li.append(el('strong', '', card ? card.name : t('unknown')), el('div', 'fp', contact.fingerprint));
    if (!card) li.append(el('div', 'meta', t('noCard')));
    else {
      if ((byName.get(card.name) || []).length > 1) li.append(el('div', 'warn', t('keyWarn', { name: card.name })));
      const o = el('option', '', `${card.name} (${contact.fingerprint.slice(0, 9)})`);
      o.value = contact.fingerprint;
      options.push(o);
    }
    return li;
  });
  $('contact-list').replaceChildren(...items);
  // The contacts whose card we hold are presented in our Hellos (their DMs come to us first).
  node.setContacts(state.contacts.map((c) => cards.get(c.fingerprint)?.dhKey).filter(Boolean));
  select.replaceChildren(...options);
  if (chosen) select.value = chosen;
  $('dm-form').hidden = !options.length;
  $('dm-hint').textContent = options.length ? '' : t('noContacts');
}

function renderInbox(node) {
  const items = node.inbox().slice(0, 200).map((d) => {
    const li = el('li', d.mine ? 'dm mine' : 'dm');
    const label = d.mine ? `${t('to')} ${node.nameOf(d.to) || t('unknown')}` : `${t('from')} ${node.nameOf(d.from) || t('unknown')}`;
    li.append(el('div', 'meta', `${label} · ${time(d.created)}${d.mine ? ` · ${t(d.state)}` : ''}`));
    li.append(el('div', 'text', d.text));
    if (d.mine) li.dataset.state = d.state;
    return li;
  });
  $('dms').replaceChildren(...(items.length ? items : [el('li', 'meta', t('noDms'))]));
}

main();
