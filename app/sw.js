// Jiliang's service worker, written by hand (no generated code, nothing
// fetched from elsewhere). Served by the server at /sw.js with no-cache and
// registered for scope / by the inline script in index.html.
//
// What it does
// - App shell: every page of the app is index.html (the router runs in the
//   browser). Navigations are answered from the cached index.html at once, so
//   a repeat visit starts without the network; the network copy is fetched
//   behind it. When that copy differs (a new deploy), its hashed assets are
//   downloaded into the cache, the copy is kept as the *next* shell and the
//   open pages are told ("update-ready"): they show "a new version is ready —
//   reload". The next navigation (the reload, or any later visit) starts the
//   new version from the cache.
// - Hashed assets (Trunk's name-<16 hex>.js/.wasm/.css): cache first; they
//   never change under a name.
// - GET /api/v1/…: network first; a 200 JSON answer is kept, and served when
//   the network fails, so the app opens offline with what it last saw. The
//   CSRF token in /auth/me is blanked before it is stored (it lives only in
//   memory; the app asks again when the link returns).
// - Everything else (writes, /healthz, the room socket): not touched.
//
// What it never does
// - Keep one person's answers for another: the app calls
//   `jiliangForget()` (index.html) on logout, on login and when the
//   session ends, which deletes the API cache.
// - Answer a write: offline writes wait in the app's own outbox
//   (localStorage) and are sent, idempotently, when the link returns.

const SHELL = 'jiliang-shell-v1';
const API = 'jiliang-api-v1';
const INDEX = '/__jiliang/index.html';
const NEXT = '/__jiliang/next.html';
const HASHED = /^\/[A-Za-z0-9_.-]+-[0-9a-f]{16}(?:_bg)?\.(?:js|wasm|css)$/;
const ASSET_IN_HTML = /\/[A-Za-z0-9_.-]+-[0-9a-f]{16}(?:_bg)?\.(?:js|wasm|css)/g;

function assetsOf(html) {
  return [...new Set(html.match(ASSET_IN_HTML) || [])];
}

function isHtml(res) {
  return (res.headers.get('content-type') || '').startsWith('text/html');
}

async function fetchShell() {
  // /index.html, not /: a visitor without a session gets the first-load
  // shell at / (server/src/http/static_files.rs), which has only the
  // visitor's pages and reloads any other address to reach the full app —
  // cached as every page's answer, it would reload forever.
  const res = await fetch('/index.html', { cache: 'no-cache', credentials: 'same-origin' });
  if (!res.ok || !isHtml(res)) throw new Error(`shell: HTTP ${res.status}`);
  return res;
}

// Put `res` (index.html) and every asset it names into the cache under `key`.
// Assets already cached are not downloaded again.
async function keepShell(cache, res, key) {
  const html = await res.clone().text();
  for (const path of assetsOf(html)) {
    if (!(await cache.match(path))) {
      const asset = await fetch(path, { credentials: 'same-origin' });
      if (!asset.ok) throw new Error(`asset ${path}: HTTP ${asset.status}`);
      await cache.put(path, asset);
    }
  }
  await cache.put(key, res);
  return html;
}

// The next shell becomes the current one; assets only the old one named go.
async function promote(cache) {
  const next = await cache.match(NEXT);
  if (!next) return false;
  const old = await cache.match(INDEX);
  const keep = new Set(assetsOf(await next.clone().text()));
  await cache.put(INDEX, next);
  await cache.delete(NEXT);
  if (old) {
    for (const path of assetsOf(await old.text())) {
      if (!keep.has(path)) await cache.delete(path);
    }
  }
  return true;
}

async function tell(message) {
  const clients = await self.clients.matchAll({ type: 'window' });
  for (const c of clients) c.postMessage(message);
}

let refreshing = null;
let refreshedAt = 0;
// Compare the network's index.html with the cached one; on a difference,
// stage the new version and announce it. A page's `check` (`always`
// false) is skipped within 10 s of the last look: a start-up asks twice, by
// its navigation and by that message.
function refresh(always) {
  if (refreshing) return refreshing;
  if (!always && Date.now() - refreshedAt < 10000) return Promise.resolve();
  refreshing = (async () => {
    const cache = await caches.open(SHELL);
    const res = await fetchShell();
    const html = await res.clone().text();
    const current = await cache.match(INDEX);
    const staged = await cache.match(NEXT);
    const known = staged ? await staged.text() : current ? await current.text() : null;
    if (known === html) return;
    if (!current) {
      await keepShell(cache, res, INDEX);
      return;
    }
    await keepShell(cache, res, NEXT);
    await tell({ type: 'update-ready' });
  })()
    .then(() => {
      refreshedAt = Date.now();
    })
    .catch(() => {})
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      if (!(await cache.match(INDEX))) {
        try {
          await keepShell(cache, await fetchShell(), INDEX);
        } catch (_) {
          // Offline at install: the first navigation online fills it.
        }
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith('jiliang-') && key !== SHELL && key !== API) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type === 'check') {
    // A page that just started asks whether a new version already waits.
    event.waitUntil(
      (async () => {
        const cache = await caches.open(SHELL);
        if (await cache.match(NEXT)) event.source && event.source.postMessage({ type: 'update-ready' });
        await refresh(false);
      })(),
    );
  }
});

async function navigation(event) {
  const cache = await caches.open(SHELL);
  await promote(cache);
  const cached = await cache.match(INDEX);
  if (cached) {
    event.waitUntil(refresh(true));
    return cached;
  }
  const res = await fetch(event.request);
  if (res.ok && isHtml(res)) {
    event.waitUntil(keepShell(cache, res.clone(), INDEX).catch(() => {}));
  }
  return res;
}

async function asset(request) {
  const cache = await caches.open(SHELL);
  const cached = await cache.match(request.url.replace(self.location.origin, ''));
  if (cached) return cached;
  const res = await fetch(request);
  // A missing asset answers with a JSON 404, never kept.
  if (res.ok && !isHtml(res)) {
    await cache.put(new URL(request.url).pathname, res.clone());
  }
  return res;
}

async function stripCsrf(res) {
  const doc = await res.clone().json();
  if (doc && typeof doc === 'object' && 'csrf_token' in doc) doc.csrf_token = '';
  return new Response(JSON.stringify(doc), {
    status: 200,
    headers: { 'content-type': 'application/json' },
  });
}

async function api(request) {
  const url = new URL(request.url);
  try {
    const res = await fetch(request);
    if (res.status === 200 && (res.headers.get('content-type') || '').startsWith('application/json')) {
      const copy = url.pathname === '/api/v1/auth/me' ? await stripCsrf(res) : res.clone();
      const cache = await caches.open(API);
      await cache.put(url.pathname + url.search, copy);
    }
    return res;
  } catch (err) {
    const cache = await caches.open(API);
    const cached = await cache.match(url.pathname + url.search);
    if (cached) {
      const headers = new Headers(cached.headers);
      headers.set('x-jiliang-offline', '1');
      return new Response(cached.body, { status: 200, headers });
    }
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === 'navigate' && !url.pathname.startsWith('/api/')) {
    event.respondWith(navigation(event));
  } else if (HASHED.test(url.pathname)) {
    event.respondWith(asset(request));
  } else if (url.pathname.startsWith('/api/v1/') && !url.pathname.endsWith('/ws')) {
    event.respondWith(api(request));
  }
});
