// Recording a live session: the host starts recording (everyone sees
// "● 录制中", a page that reconnects sees it from the snapshot), records
// about five seconds of the fake camera and microphone, stops; the session
// ends and its record page lists the recording; the <video> plays, seeking
// jumps (the file is served in byte ranges) and playing goes on from there;
// the recording's ledger record verifies in the browser. A participant who
// is not the host cannot start recording.
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

async function liveSession(api) {
  const labs = Object.fromEntries((await api.get('/api/v1/institutions')).map((i) => [i.name_zh, i.id]));
  const s = await api.post('/api/v1/sessions', {
    title: '录制示范',
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

test('the host records five seconds; the ended session plays it with seeking and its record verifies', async (t) => {
  const hostApi = await apiLogin(server.url, 'expert');
  const id = await liveSession(hostApi);
  const expert = await person(t, 'expert');
  const tech = await person(t, 'tech', { viewport: { width: 360, height: 740 } });
  await enterRoom(expert.page, id);
  await enterRoom(tech.page, id);

  // The technician is not the host: no control, and the frame is refused.
  assert.equal(await tech.page.getByTestId('record-start').count(), 0, 'no record control for a participant');

  await expert.page.getByTestId('media-camera').click();
  await expert.page.getByTestId('media-mic').click();
  await expert.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await expert.page.locator('[data-testid=media-mic][aria-pressed=true]').waitFor();
  // Media flowing to the technician before recording starts.
  await tech.page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v && v.getVideoPlaybackQuality().totalVideoFrames > 5;
  }, null, { timeout: 30_000 });

  await expert.page.getByTestId('record-start').click();
  for (const p of [expert.page, tech.page]) {
    await p.getByTestId('recording-on').waitFor({ timeout: 10_000 });
  }
  assert.match(await tech.page.getByTestId('recording-on').innerText(), /录制中|Recording/);
  await screenshot(tech.page, 'recording-technician-360');
  // A page that reconnects learns it from the snapshot.
  await tech.page.reload();
  await tech.page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await tech.page.getByTestId('recording-on').waitFor({ timeout: 10_000 });

  await expert.page.waitForTimeout(5_500);
  await expert.page.getByTestId('record-stop').click();
  for (const p of [expert.page, tech.page]) {
    await p.getByTestId('recording-on').waitFor({ state: 'detached', timeout: 10_000 });
  }
  await expert.page.getByTestId('record-start').waitFor();

  // The session ends: its record lists the recording.
  await hostApi.post(`/api/v1/sessions/${id}/end`);
  await tech.context.close();
  await expert.page.goto(`${server.url}/sessions/${id}`);
  const item = expert.page.locator('[data-testid=recording][data-status=ready]').first();
  await item.waitFor({ timeout: 60_000 });
  const meta = await item.getByTestId('recording-meta').innerText();
  assert.match(meta, /摄像头和麦克风|Camera and microphone/, meta);

  // The file: ranges answered with 206, a bad one with 416.
  const list = await hostApi.get(`/api/v1/sessions/${id}/recordings`);
  const rec = list.find((r) => r.status === 'ready' && r.kind === 'camera');
  assert.ok(rec, JSON.stringify(list));
  assert.ok(rec.duration_ms >= 4000 && rec.duration_ms <= 9000, `about five seconds (${rec.duration_ms} ms)`);
  const range = await expert.page.evaluate(async (url) => {
    const r = await fetch(url, { headers: { Range: 'bytes=0-99' } });
    const bad = await fetch(url, { headers: { Range: 'bytes=999999999-' } });
    return { status: r.status, len: (await r.arrayBuffer()).byteLength, ranges: r.headers.get('accept-ranges'), type: r.headers.get('content-type'), bad: bad.status };
  }, `/api/v1/recordings/${rec.id}/file`);
  assert.deepEqual(range, { status: 206, len: 100, ranges: 'bytes', type: 'video/webm', bad: 416 });

  // It plays, and seeking jumps and plays on from there.
  const video = item.getByTestId('recording-video');
  await video.waitFor();
  const played = await video.evaluate(async (v) => {
    v.muted = true;
    await new Promise((ok, fail) => {
      if (v.readyState >= 1) ok();
      v.addEventListener('loadedmetadata', ok, { once: true });
      v.addEventListener('error', () => fail(new Error(`video error ${v.error?.code}`)), { once: true });
    });
    await v.play();
    await new Promise((ok) => setTimeout(ok, 1000));
    const before = v.currentTime;
    const duration = v.duration;
    v.currentTime = 3;
    await new Promise((ok) => v.addEventListener('seeked', ok, { once: true }));
    const jumped = v.currentTime;
    await new Promise((ok) => setTimeout(ok, 1000));
    return { before, duration, jumped, after: v.currentTime, width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames, paused: v.paused };
  });
  assert.ok(played.before > 0.3, `playing (${JSON.stringify(played)})`);
  assert.ok(played.width > 0, `video decoded (${JSON.stringify(played)})`);
  assert.ok(Math.abs(played.jumped - 3) < 0.5, `seek landed near 3 s (${JSON.stringify(played)})`);
  assert.ok(played.after > played.jumped + 0.3 || played.after >= played.duration - 0.1, `plays on after the seek (${JSON.stringify(played)})`);
  await screenshot(expert.page, 'recording-ended-session');

  // The recording's ledger record verifies in the browser.
  const href = await item.getByTestId('recording-verify').getAttribute('href');
  assert.equal(href, `/verify/recording/${rec.id}`);
  await expert.page.goto(`${server.url}${href}`);
  await expert.page.locator('[data-testid=verify-result][data-ok=true]').waitFor({ timeout: 30_000 });
  await expert.context.close();
});
