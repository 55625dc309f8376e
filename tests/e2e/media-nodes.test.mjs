// Media with the two Chromium pages on two different nodes of a cluster (one
// PostgreSQL database, NATS between the nodes): the room's media lives on
// the node that claimed it; the page on the other node is signalled through
// the bus, connects its media to that node and decodes the camera published
// there, and the reverse: the page on the other node publishes and the
// page on the hosting node decodes it. When the hosting node stops, the
// other page is told its media moved and starts again by itself, on its
// own node.
//
// Needs DATABASE_URL (PostgreSQL), JILIANG_BUS (NATS) and psql (to create a
// schema of its own); skipped with a message otherwise.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowserForPeople, openPage, apiLogin } from './harness.mjs';

const PASSWORD = 'Jiliang-demo-2026';
const QINAN = '秦安县计量检定所';

const admin = process.env.DATABASE_URL ?? '';
const bus = process.env.JILIANG_BUS ?? '';
function psql(sql) {
  execFileSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { stdio: 'pipe' });
}
function missing() {
  if (!/^postgres(ql)?:/.test(admin)) return 'DATABASE_URL does not name PostgreSQL';
  if (!bus) return 'JILIANG_BUS is not set';
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'psql is not installed';
  }
  return null;
}
const skip = missing();
if (skip) console.log(`# media on two nodes skipped: ${skip}`);

const schema = `e2e_${Date.now()}_${process.pid}`;
let nodes = [];
let browser;
let keyDir;

before(async () => {
  if (skip) return;
  psql(`CREATE SCHEMA ${schema}`);
  const database = `${admin}${admin.includes('?') ? '&' : '?'}options[search_path]=${schema}`;
  // Every node of a cluster signs with the same ledger key.
  keyDir = mkdtempSync(join(tmpdir(), 'jiliang-e2e-key-'));
  const args = ['--bus', bus, '--media-udp', '127.0.0.1:0', '--media-lease-ms', '3000',
    '--ledger-key', join(keyDir, 'ledger-key.hex')];
  nodes.push(await startServer({ database, args }));
  nodes.push(await startServer({ database, args, seed: false }));
  browser = await launchBrowserForPeople({ media: true });
});
after(async () => {
  await browser?.close();
  for (const n of nodes) await n.stop();
  if (!skip) psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

async function liveSession(base, host) {
  const api = await apiLogin(base, host);
  const labs = Object.fromEntries((await api.get('/api/v1/institutions')).map((i) => [i.name_zh, i.id]));
  const s = await api.post('/api/v1/sessions', {
    title: '两节点音视频',
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [labs[QINAN]],
  });
  await api.post(`/api/v1/sessions/${s.id}/start`);
  return s.id;
}

async function person(t, base, username, options = {}) {
  const context = await browser.newContext(options);
  const page = await openPage(context, t);
  await page.goto(`${base}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

async function enterRoom(base, page, id) {
  await page.goto(`${base}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await page.getByTestId('media-panel').waitFor();
}

async function peerConnections(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('jiliang_media_peer_connections '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Wait until `page` decodes frames of a remote camera tile. */
async function decodes(page) {
  await page.locator('[data-testid=remote-video]').first().waitFor({ timeout: 20_000 });
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v && v.getVideoPlaybackQuality().totalVideoFrames > 5 && v.videoWidth > 0;
  }, null, { timeout: 20_000 });
}

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

test('a page on another node sees the camera through the node hosting the room; its media moves when that node stops', { skip: skip ?? false }, async (t) => {
  const [one, two] = nodes;
  const id = await liveSession(one.url, 'expert');
  const expert = await person(t, one.url, 'expert');
  const tech = await person(t, two.url, 'tech', { viewport: { width: 360, height: 740 } });
  await enterRoom(one.url, expert.page, id);
  await enterRoom(two.url, tech.page, id);

  // The expert starts first: node 1 claims the room's media; the
  // technician's page, on node 2, is signalled through the bus and decodes
  // the expert's camera sent to it by node 1.
  await expert.page.getByTestId('media-camera').click();
  await expert.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await decodes(tech.page);
  assert.match(await tech.page.locator('[data-testid=remote-video]').first().getAttribute('data-stream'), /:camera$/);
  assert.equal(await peerConnections(one.url), 2, 'both pages send their media to node 1');
  assert.equal(await peerConnections(two.url), 0, 'node 2 only relays signalling');

  // The reverse direction: the technician, on node 2, turns its camera on
  // (a re-offer on a connection that only received so far); its media goes
  // to node 1, and the expert's page there decodes it.
  await tech.page.getByTestId('media-camera').click();
  await tech.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await expert.page.waitForFunction(() => [...document.querySelectorAll('[data-testid=remote-video]')]
    .some((v) => /:camera$/.test(v.dataset.stream ?? '') && v.getVideoPlaybackQuality().totalVideoFrames > 5 && v.videoWidth > 0),
  null, { timeout: 30_000 });
  assert.equal(await peerConnections(two.url), 0, 'node 2 still only relays signalling');

  // Node 1 stops: the technician's page is told its media moved and starts
  // it again by itself, now on node 2, which receives its camera.
  await expert.context.close();
  await one.halt();
  await until('the technician\'s media moved to node 2', async () => (await peerConnections(two.url)) === 1, 30_000);
  await until('node 2 receives the technician\'s camera', async () => (await metric(two.url, 'jiliang_media_tracks')) === 1, 30_000);
  await tech.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();

  await tech.context.close();
  await until('node 2 closed every peer connection', async () => (await peerConnections(two.url)) === 0);
});
