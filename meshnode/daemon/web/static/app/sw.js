// The app's service worker: on first load it keeps the app's files, so the page opens and
// works offline afterwards (writing at home, syncing at the next steunpunt). The files come
// from the hub that served them first and are served from this cache from then on (cache
// first, never refreshed behind the resident's back): a new version of the app arrives only
// as a changed sw.js (a new CACHE name), which the browser checks for on its own
// (docs/steunpunt.md, "What the hub can and cannot see").
// SHELL lists every file the app loads; tests/web/test_app_http.py checks it against them.

const CACHE = 'meshnode-app-v9'; // v9: fresh items split apart from older ones (§10.2)
const SHELL = ['/app/', '/app/app.css', '/app/ui.js', '/app/node.js', '/app/store.js',
  '/app/frames.js', '/app/msgpack.js', '/app/recon.js', '/app/seal.js', '/app/wire.js',
  '/app/strings.js', '/app/alerts.js', '/app/cap.js', '/app/contactqr.js',
  '/app/manifest.webmanifest', '/app/icon.svg', '/vendor/crypto.js', '/vendor/qr.js'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin
      || !SHELL.includes(url.pathname)) return;
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const cached = await cache.match(url.pathname);
    return cached || fetch(event.request);
  }));
});
