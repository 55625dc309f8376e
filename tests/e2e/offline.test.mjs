// The service worker (app/sw.js): a repeat visit starts from the cache even
// with the server stopped and the browser offline, showing what the person
// last saw under an offline banner; chat typed offline waits in the outbox
// and arrives exactly once when the link returns; a new version is noticed,
// announced and started by "reload"; logging out empties the cached answers.
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

async function person(t, username) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await openPage(context, t, { serverMayBeDown: true });
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

/** The worker controls the page and holds the app shell. */
async function shellCached(page) {
  await page.waitForFunction(async () => {
    if (!navigator.serviceWorker.controller) return false;
    const cache = await caches.open('jiliang-shell-v1');
    return Boolean(await cache.match('/__jiliang/index.html'));
  }, null, { timeout: 20_000, polling: 200 });
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
  await page.waitForFunction(async () => !(await caches.has('jiliang-api-v1'))
    || !(await (await caches.open('jiliang-api-v1')).match('/api/v1/auth/me')), null, { timeout: 5_000 });
});
