// The page: keys and messages from IndexedDB, the WebSocket to this hub's /sync, the forms.
// Text from the mesh is only ever set as textContent (never parsed as HTML).

import { AlertBook } from './alerts.js';
import { contactLink, parseContact, qrSvg, readQrPhoto } from './contactqr.js';
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
  // Alerts are verified here, against the roots this phone pinned (alerts.js).
  state.book = new AlertBook(await store.alertState() || {}, (s) => store.saveAlertState(s));
  node.alertBook = state.book;
  state.contacts = await store.contacts();
  state.lang = localStorage.getItem('lang') || (navigator.language.startsWith('nl') ? 'nl' : 'en');
  state.channel = localStorage.getItem('channel') || 'buurt';
  window.meshnode = { node, state }; // for the tests and the curious: read-only use
  node.onChange(() => renderSoon(node));
  bind(node, store);
  render(node);
  // On the first visit the roots are fetched before the sync starts, so that the alerts the
  // hub sends are judged against them (a failed fetch, offline, does not hold the sync up).
  if (!state.book.pins.length) await pinRoots(node);
  connect(node);
  setInterval(() => { state.link?.tick(); node.expire(); state.book.expire(); }, 5000);
  window.addEventListener('online', () => { if (!state.ws) connect(node); });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { state.ready = true; $('ready').dataset.ready = '1'; render(node); })
      .catch(() => null); // plain http on a LAN address: no service worker (docs/steunpunt.md)
  }
}

/** The hub's roots (/app/roots.json): pinned if this phone has none yet, else only compared.
 *  A phone keeps the roots it pinned first, whatever a later hub says (docs/steunpunt.md). */
async function pinRoots(node) {
  let roots;
  try {
    const r = await fetch('/app/roots.json', { cache: 'no-store', signal: AbortSignal.timeout(5000) });
    roots = (await r.json()).roots;
  } catch { return; } // offline, or no hub: the pinned roots stand
  if (!Array.isArray(roots)) return;
  // Newly pinned on a link already syncing (the first fetch failed): what the hub sent was
  // judged without roots, so start the exchange over and the hub sends it again (its next
  // Hello would be up to 15 minutes away).
  if (state.book.pin(roots) && state.link && state.link.peer) state.link.open();
  state.hubRoots = roots; // compared at each render: a rotation followed meanwhile counts
  render(node);
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
    pinRoots(node);
    render(node);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') { ws.close(1003); return; }
    const link = state.link;
    const phase = link.phase;
    link.receive(new Uint8Array(ev.data));
    if (link.phase === 'FINISHED' && link.stats.reconciled !== null) {
      if (state.lastSync === null) state.syncedAt = performance.now();
      state.lastSync = now();
      document.body.dataset.synced = String((Number(document.body.dataset.synced) || 0) + 1);
    }
    // A sync is thousands of frames: a full render each made the page's work grow with the
    // square of what it holds. The status follows each change of phase at once; the rest
    // is drawn at most four times a second.
    if (link.phase !== phase) render(node); else renderSoon(node);
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
  const addContact = async (fp) => {
    $('contact-error').textContent = fp ? '' : t('badFp');
    if (!fp) return;
    if (fp !== node.fingerprint) await store.saveContact({ fingerprint: fp, added: now() });
    state.contacts = await store.contacts();
    state.added = fp; // shown by render(), in the page's language
    render(node);
  };
  $('contact-form').onsubmit = async (e) => {
    e.preventDefault();
    const fp = parseContact($('contact-fp').value); // a fingerprint, or a pasted contact link
    if (fp) $('contact-fp').value = '';
    await addContact(fp);
  };
  $('contact-photo').onchange = async () => {
    const file = $('contact-photo').files[0];
    if (!file) return;
    const text = await readQrPhoto(file);
    $('contact-photo').value = '';
    const fp = text === null ? null : parseContact(text);
    if (!fp) { $('contact-error').textContent = t('noQr'); return; }
    await addContact(fp);
  };
  // A contact link opened from a phone's camera app: /app/#contact=FINGERPRINT.
  const fromLink = () => {
    if (!location.hash.startsWith('#contact=')) return;
    const fp = parseContact(location.hash);
    history.replaceState(null, '', location.pathname);
    addContact(fp);
  };
  window.addEventListener('hashchange', fromLink);
  fromLink();
  $('dm-form').onsubmit = (e) => {
    e.preventDefault();
    const card = node.cards().get($('dm-to').value);
    const text = $('dm-text').value;
    if (!card || !text.trim()) return;
    node.sendDm(card, text);
    $('dm-text').value = '';
  };
}

let renderPending = false;

/** A render within 250 ms, at most one pending: how a sync's many changes are drawn. */
function renderSoon(node) {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => { renderPending = false; render(node); }, 250);
}

function render(node) {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll('[data-t]')) e.textContent = t(e.dataset.t);
  renderStatus(node);
  $('fp').textContent = node.fingerprint;
  $('ready').textContent = state.ready ? t('offlineReady') : '';
  $('contact-added').textContent = state.added ? t('contactAdded', { fp: state.added }) : '';
  const link = contactLink(location.origin, node.fingerprint);
  if ($('my-qr').dataset.link !== link) { // drawn once: the card does not change
    $('my-qr').dataset.link = link;
    $('my-qr').replaceChildren(qrSvg(link, t('qrTitle')));
    $('my-link').textContent = link;
  }
  // Fill a field only when what it shows changed, never while the resident may be typing.
  const mine = node.cards().get(node.fingerprint);
  fill('name', mine ? mine.name : '');
  fill('channel-name', state.channel);
  $('channels').replaceChildren(...node.channels().map((c) => { const o = el('option'); o.value = c; return o; }));
  renderAlerts();
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

/** The info in the page's language, else the first. */
function infoFor(infos) {
  return infos.find((i) => i.language.toLowerCase().startsWith(state.lang)) || infos[0] || null;
}

// Only alerts that passed this browser's own check are shown as alerts; refused ones are
// listed as not verified, with the reason, and none of their text.
function renderAlerts() {
  const book = state.book;
  const roots = book.roots();
  const inService = roots.filter((r) => r.retired == null);
  $('roots').textContent = roots.length
    ? t('rootsPinned', { roots: inService.map((r) => `${r.name} (${r.fingerprint})`).join('; ') })
    : t('noRoots');
  const differ = !!state.hubRoots && book.pins.length > 0 && book.differs(state.hubRoots);
  $('roots-warn').hidden = !differ;
  $('roots-warn').textContent = differ ? t('rootsDiffer') : '';
  // A rotation the phone followed (signed by a root it trusted, co-signed by the new one).
  const rotated = book.rotations.map((r) => t('rootsRotated', { from: `${r.from.name} (${r.from.fingerprint})`,
    to: `${r.to.name} (${r.to.fingerprint})`, time: time(r.at) }));
  $('roots-rotated').hidden = !rotated.length;
  $('roots-rotated').textContent = rotated.join(' ');
  const items = book.current().map((a) => {
    const info = infoFor(a.alert.infos);
    const li = el('li', 'alert verified');
    li.dataset.identifier = a.alert.identifier;
    const kind = a.alert.msgType === 3 ? `${t('cancelled')}: ` : a.alert.msgType === 2 ? `${t('update')}: ` : '';
    li.append(el('strong', 'headline', kind + (info ? info.headline || info.event : a.alert.identifier)));
    li.append(el('div', 'chain', t('verifiedBy', { issuer: a.cert.name, root: a.root.name })));
    if (info) {
      const where = [...new Set(info.areas.map((x) => x.areaDesc))].join(', ');
      if (where) li.append(el('div', 'meta', where));
      if (info.instruction) li.append(el('div', 'text', info.instruction));
    }
    li.append(el('div', 'meta', `${time(a.alert.sent)} · ${t('until', { time: time(a.expires) })}`));
    return li;
  });
  $('alert-list').replaceChildren(...(items.length ? items : [el('li', 'meta', t('noAlerts'))]));
  $('refused-list').replaceChildren(...book.refused.slice(0, 10).map((r) => {
    const li = el('li', 'alert refused', t('notVerified', { reason: r.reason }));
    li.dataset.reason = r.reason;
    return li;
  }));
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
