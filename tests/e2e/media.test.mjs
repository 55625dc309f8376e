// Audio and video through the server's SFU with two Chromium pages and fake
// devices: the expert turns the camera on, the technician's page shows the
// expert's video with decoded frames (through the server, not peer to
// peer), the room says who publishes, and when the pages leave the server's
// peer connections go back to 0. Also the 360 px layout of the media panel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowserForPeople, openPage, screenshot, apiLogin } from './harness.mjs';

const PASSWORD = 'Jiliang-demo-2026';
const QINAN = '秦安县计量检定所';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople({ media: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function liveSession(host) {
  const api = await apiLogin(server.url, host);
  const labs = Object.fromEntries((await api.get('/api/v1/institutions')).map((i) => [i.name_zh, i.id]));
  const s = await api.post('/api/v1/sessions', {
    title: '音视频指导',
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [labs[QINAN]],
  });
  await api.post(`/api/v1/sessions/${s.id}/start`);
  return s.id;
}

async function person(t, username, options = {}) {
  const context = await browser.newContext(options);
  const page = await openPage(context, t);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

async function enterRoom(page, id) {
  await page.goto(`${server.url}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await page.getByTestId('media-panel').waitFor();
}

async function peerConnections() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
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

test('the technician sees the expert camera through the server; leaving closes the peer connections', async (t) => {
  const id = await liveSession('expert');
  const expert = await person(t, 'expert');
  const tech = await person(t, 'tech', { viewport: { width: 360, height: 740 } });
  await enterRoom(expert.page, id);
  await enterRoom(tech.page, id);

  await expert.page.getByTestId('media-camera').click();
  await expert.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await expert.page.locator('[data-testid=local-video]').waitFor();

  // The technician's page receives the expert's video and decodes frames.
  const remote = tech.page.locator('[data-testid=remote-video]');
  await remote.waitFor({ timeout: 20_000 });
  await tech.page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v && v.getVideoPlaybackQuality().totalVideoFrames > 5 && v.videoWidth > 0;
  }, null, { timeout: 20_000 });
  const stream = await remote.getAttribute('data-stream');
  assert.match(stream, /:camera$/, 'the tile is the expert camera');
  assert.equal(await peerConnections(), 2, 'one peer connection per page, through the server');

  // 360 px: the media panel fits.
  const overflow = await tech.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scroll at 360 px (${overflow})`);
  await screenshot(tech.page, 'media-technician-360');

  // "Do not receive video": the tile goes, the server stops forwarding video.
  await tech.page.getByTestId('media-no-video').check();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ state: 'detached' });
  await tech.page.getByTestId('media-no-video').uncheck();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ timeout: 20_000 });

  // The expert turns the camera off: the technician's tile goes.
  await expert.page.getByTestId('media-camera').click();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ state: 'detached', timeout: 20_000 });

  await expert.context.close();
  await tech.context.close();
  await until('the server closed every peer connection', async () => (await peerConnections()) === 0);
});
