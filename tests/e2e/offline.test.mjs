// The service worker (app/sw.js): a repeat visit starts from the cache even
// with the server stopped and the browser offline, showing what the person
// last saw under an offline banner; chat typed offline waits in the outbox
// and arrives exactly once when the link returns; a new version is noticed,
// announced and started by "reload"; logging out empties the cached answers;
// readings typed by hand offline wait in the browser (a reload too) and are
// stored once each, in order, stamped when typed; a request that cannot
// reach the server says so in the interface's language.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowserForPeople, openPage, screenshot, apiLogin, repo, DEMO_PASSWORD } from './harness.mjs';

const QINAN = '秦安县计量检定所';
const dist = process.env.JILIANG_STATIC_DIR ?? join(repo, 'dist');

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function person(t, username, { lateWorker = false } = {}) {
  const context = await browser.newContext();
  t.after(() => context.close());
  if (lateWorker) {
    // The worker registers seconds after each page starts: the first
    // visit's reads are made before it controls the page, as on a slow
    // first download.
    await context.addInitScript(() => {
      const sw = navigator.serviceWorker;
      const register = sw.register.bind(sw);
      sw.register = (...args) => new Promise((r) => setTimeout(r, 4_000)).then(() => register(...args));
    });
  }
  const page = await openPage(context, t, { serverMayBeDown: true });
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

/**
 * Poll `fn` in the page until it returns true. Not `waitForFunction`: it
 * takes the promise an async function returns for a true answer at once.
 */
async function until(page, what, fn, arg, timeout = 20_000) {
  const end = Date.now() + timeout;
  for (;;) {
    // A navigation in between destroys the context: ask again.
    if (await page.evaluate(fn, arg).catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The worker's API cache holds the answers to `paths`. */
async function apiCached(page, paths) {
  await until(page, `the API cache to hold ${paths.join(', ')}`, async (paths) => {
    const cache = await caches.open('jiliang-api-v1');
    for (const p of paths) if (!(await cache.match(p))) return false;
    return true;
  }, paths, 10_000);
}

/** The worker controls the page and holds the app shell. */
async function shellCached(page) {
  await until(page, 'the worker to control the page and hold the shell', async () => {
    if (!navigator.serviceWorker.controller) return false;
    const cache = await caches.open('jiliang-shell-v1');
    return Boolean(await cache.match('/__jiliang/index.html'));
  });
}

async function liveSession(title) {
  const api = await apiLogin(server.url, 'expert');
  const list = await api.get('/api/v1/institutions');
  const lab = list.find((i) => i.name_zh === QINAN).id;
  const s = await api.post('/api/v1/sessions', {
    title,
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [lab],
  });
  await api.post(`/api/v1/sessions/${s.id}/start`);
  return { id: s.id, api };
}

test('a repeat visit opens offline from the cache; chat typed offline arrives once', async (t) => {
  const { id, api } = await liveSession('离线打开测试');
  const { context, page } = await person(t, 'tech');
  // What the technician looks at while online: the sessions list and the room.
  await page.goto(`${server.url}/sessions?view=live`);
  await page.locator('[data-testid=session-card]', { hasText: '离线打开测试' }).waitFor();
  await page.goto(`${server.url}/sessions/${id}`);
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await page.goto(`${server.url}/`);
  await page.getByTestId('dash-greeting').waitFor();
  await shellCached(page);

  // No server and no network: the reload still shows the dashboard.
  await server.halt();
  await context.setOffline(true);
  await page.reload();
  await page.getByTestId('offline-banner').waitFor();
  await page.getByTestId('dash-greeting').waitFor();
  assert.match(await page.getByTestId('offline-banner').innerText(), /离线/);
  await screenshot(page, 'offline-dashboard');

  // The room opens from the cache too; a message waits in the outbox.
  await page.goto(`${server.url}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=offline]').waitFor();
  const box = page.getByTestId('chat-input');
  await box.fill('离线时写的消息：零点已校准');
  await box.press('Enter');
  await page.locator('[data-testid=chat-message][data-pending]', { hasText: '离线时写的消息' }).waitFor();
  await screenshot(page, 'offline-room-pending');

  // The link returns: the message is sent, once.
  await server.resume();
  await context.setOffline(false);
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor({ timeout: 30_000 });
  await page.locator('[data-testid=chat-message]:not([data-pending])', { hasText: '离线时写的消息' }).waitFor();
  await page.getByTestId('offline-banner').waitFor({ state: 'detached' });
  // A reconnect more must not send it again.
  await page.reload();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  const { items } = await api.get(`/api/v1/sessions/${id}/events?limit=500`);
  const mine = items.filter((e) => e.body.kind === 'chat' && e.body.text === '离线时写的消息：零点已校准');
  assert.equal(mine.length, 1, `stored ${mine.length} times`);
  assert.equal(await page.locator('[data-testid=chat-message]', { hasText: '离线时写的消息' }).count(), 1);
});

test('a new version is announced and started by reload; logout empties the cache', async (t) => {
  const { page } = await person(t, 'tech');
  await shellCached(page);
  const index = join(dist, 'index.html');
  const original = readFileSync(index, 'utf8');
  t.after(() => writeFileSync(index, original));
  // A "deploy": index.html changes.
  writeFileSync(index, original.replace('</body>', '<!-- next version --></body>'));
  await page.reload();
  await page.getByTestId('update-banner').waitFor({ timeout: 20_000 });
  assert.match(await page.getByTestId('update-banner').innerText(), /新版本已就绪/);
  await screenshot(page, 'offline-update-ready');
  await page.getByTestId('update-reload').click();
  await page.getByTestId('dash-greeting').waitFor();
  // The page now runs the new shell, and nothing more is announced.
  await page.waitForFunction(() => document.documentElement.innerHTML.includes('next version'), null, { timeout: 10_000 });
  assert.equal(await page.getByTestId('update-banner').count(), 0);

  // Cached API answers never outlive the login.
  const cachedMe = () => page.evaluate(async () => {
    const cache = await caches.open('jiliang-api-v1');
    const res = await cache.match('/api/v1/auth/me');
    return res ? (await res.json()) : null;
  });
  const me = await cachedMe();
  assert.ok(me, 'who is logged in is cached');
  assert.equal(me.csrf_token, '', 'the CSRF token is never stored');
  await page.getByTestId('logout').click();
  await page.waitForURL(/\/login/);
  await until(page, 'the API cache to be emptied', async () => !(await caches.has('jiliang-api-v1'))
    || !(await (await caches.open('jiliang-api-v1')).match('/api/v1/auth/me')), null, 5_000);
});

test('readings typed by hand while offline wait in the browser, survive a reload and are stored once each when the link returns', async (t) => {
  const { id, api } = await liveSession('离线手工录入测试');
  const tech = await apiLogin(server.url, 'tech');
  const lab = (await api.get('/api/v1/institutions')).find((i) => i.name_zh === QINAN).id;
  const name = '离线压力表 P-9';
  const device = await tech.post('/api/v1/devices', {
    lab_id: lab, name, kind: '压力表', quantity: '压力', unit: 'kPa', resolution: 0.5,
  });
  await api.post(`/api/v1/sessions/${id}/devices`, { device_id: device.id });

  const { context, page } = await person(t, 'tech', { lateWorker: true });
  await page.goto(`${server.url}/sessions/${id}`);
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  const card = page.locator(`[data-testid=instrument][data-name="${name}"]`);
  await card.getByTestId('manual-entry').waitFor();
  // The room has measured its clock offset (the entries carry it).
  await page.locator('[data-testid=clock-offset]', { hasText: '±' }).waitFor({ timeout: 15_000 });
  await shellCached(page);
  // The room was read before the worker took over; it is read again
  // through it, so a reload offline still finds the room and the device.
  await apiCached(page, [`/api/v1/sessions/${id}`, `/api/v1/sessions/${id}/devices`]);

  await context.setOffline(true);
  await page.locator('[data-testid=conn-state][data-state=offline]').waitFor();
  const values = ['101.5', '102', '102.5'];
  const typed = Date.now();
  for (const v of values) {
    await card.getByTestId('manual-value').fill(v);
    await card.getByTestId('manual-submit').click();
    await card.locator(`[data-testid=manual-pending][data-value="${v}"]`).waitFor();
  }
  await screenshot(page, 'offline-manual-waiting');
  // A reload while offline keeps them: the page opens from the cache.
  await page.reload();
  await card.locator('[data-testid=manual-pending]').nth(values.length - 1).waitFor();
  assert.equal(await card.locator('[data-testid=manual-pending]').count(), values.length);
  // Offline a little longer: these go as entries that waited, stamped
  // with the time they were typed.
  await page.waitForTimeout(2_500);
  const offline = await tech.get(`/api/v1/devices/${device.id}/readings`);
  assert.equal(offline.items.length, 0, 'nothing reached the server while offline');

  const back = Date.now();
  await context.setOffline(false);
  await card.getByTestId('manual-waiting').waitFor({ state: 'detached', timeout: 30_000 });
  await card.getByTestId('last-value').filter({ hasText: '102.5' }).waitFor({ timeout: 15_000 });
  assert.equal(await card.getByTestId('manual-refused').count(), 0, 'nothing was refused');
  // Reloaded online, nothing goes twice.
  await page.reload();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await card.getByTestId('manual-entry').waitFor();
  await page.waitForTimeout(1_000);
  assert.equal(await card.locator('[data-testid=manual-pending]').count(), 0);
  const { items } = await tech.get(`/api/v1/devices/${device.id}/readings`);
  assert.deepEqual(items.map((r) => r.value), values.map(Number), 'each reading once, in the order typed');
  assert.deepEqual(items.map((r) => r.seq), [1, 2, 3]);
  for (const r of items) {
    // Stamped when typed (on the server's clock, which is this machine's),
    // not when it arrived.
    const t = Date.parse(r.t);
    assert.ok(t >= typed - 1_000 && t < back, `reading ${r.seq} at ${r.t}, typed before the link came back`);
    assert.ok(r.u_t >= 5 && r.u_t < 6, `reading ${r.seq}: u_t ${r.u_t} s`);
  }
});

for (const [locale, expected] of [
  ['zh-CN', '无法连接服务器，请检查网络后重试。'],
  ['en', 'Cannot reach the server. Check the network and try again.'],
]) {
  test(`a request that cannot reach the server says so in the interface's language (${locale}), not in the browser's words`, async (t) => {
    // The browser's own language is the other one: the message follows the
    // interface, not the browser.
    const context = await browser.newContext({ locale: locale === 'en' ? 'zh-CN' : 'en-US' });
    t.after(() => context.close());
    const page = await openPage(context, t, { serverMayBeDown: true });
    await page.goto(`${server.url}/login`);
    await page.evaluate((l) => localStorage.setItem('jiliang.locale', l), locale);
    await page.reload();
    await page.getByTestId('login-name').fill('tech');
    await page.getByTestId('login-password').fill(DEMO_PASSWORD);
    await context.setOffline(true);
    await page.getByTestId('login-submit').click();
    const alert = page.getByTestId('form-error');
    await alert.filter({ hasText: expected }).waitFor();
    const text = await alert.innerText();
    assert.doesNotMatch(text, /Failed to fetch|TypeError|NetworkError|Load failed/);
    await screenshot(page, `offline-login-error-${locale}`);
  });
}

test('a typed reading whose answer is lost goes again with the same key and is stored once', async (t) => {
  const { id, api } = await liveSession('手工录入应答丢失');
  const tech = await apiLogin(server.url, 'tech');
  const lab = (await api.get('/api/v1/institutions')).find((i) => i.name_zh === QINAN).id;
  const name = '应答丢失压力表 P-10';
  const device = await tech.post('/api/v1/devices', {
    lab_id: lab, name, kind: '压力表', quantity: '压力', unit: 'kPa', resolution: 0.5,
  });
  await api.post(`/api/v1/sessions/${id}/devices`, { device_id: device.id });
  // No service worker, so the test's route sees the page's requests.
  const context = await browser.newContext({ serviceWorkers: 'block' });
  t.after(() => context.close());
  const page = await openPage(context, t, { serverMayBeDown: true });
  let lost = 0;
  await context.route(`**/api/v1/devices/${device.id}/readings`, async (route) => {
    if (route.request().method() === 'POST' && lost === 0) {
      lost += 1;
      await route.fetch(); // the server stores it…
      await route.abort('connectionreset'); // …and the answer never arrives
      return;
    }
    await route.continue();
  });
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill('tech');
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  await page.goto(`${server.url}/sessions/${id}`);
  const card = page.locator(`[data-testid=instrument][data-name="${name}"]`);
  await card.getByTestId('manual-value').fill('99.5');
  await card.getByTestId('manual-submit').click();
  await card.locator('[data-testid=manual-pending][data-value="99.5"]').waitFor();
  await card.getByTestId('manual-waiting').waitFor({ state: 'detached', timeout: 30_000 });
  assert.equal(lost, 1, 'the first answer was lost');
  const { items } = await tech.get(`/api/v1/devices/${device.id}/readings`);
  assert.deepEqual(items.map((r) => r.value), [99.5], 'stored once');
});
