// Audio and video through the server's SFU with two Chromium pages and fake
// devices: the expert turns the camera on, the technician's page shows the
// expert's video with decoded frames (through the server, not peer to
// peer), the room says who publishes, and when the pages leave the server's
// peer connections go back to 0. Also the 360 px layout of the media panel.
// Weak links: the camera goes out as two simulcast layers and a subscriber
// on a clean link gets the high one; a person pins data-only mode, chat
// still flows and the pin sticks; a page whose media goes through an
// impaired path (300 kbit/s, 5 % loss, 150 ms each way) drops to audio only
// by itself and its audio keeps flowing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { startServer, launchBrowserForPeople, openPage, screenshot } from './harness.mjs';
import { impairedPath } from './impair.mjs';
import { liveSession, traceSignalling, reportTrouble } from './media_stats.mjs';

const PASSWORD = 'Jiliang-demo-2026';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople({ media: true });
});
after(async () => {
  await browser?.close();
  // The server's log for a failure's diagnosis (RUST_LOG=jiliang_server::media=debug).
  if (process.env.JILIANG_SERVER_LOG && server) writeFileSync(process.env.JILIANG_SERVER_LOG, server.log());
  await server?.stop();
});

/** Every RTCPeerConnection the page makes, kept in `window.__pcs` (the app
 *  keeps its own inside wasm) so the test can read `getStats`. */
const CAPTURE_PCS = `(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();`;

async function person(t, username, options = {}, { impaired } = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript(CAPTURE_PCS);
  if (impaired) await impaired.route(context);
  const page = await openPage(context, t);
  await traceSignalling(page);
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

/** Stats of the page's open peer connections, filtered. */
function stats(page, type, extra = {}) {
  return page.evaluate(async ({ type, extra }) => {
    const out = [];
    for (const pc of window.__pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === type && Object.entries(extra).every(([k, v]) => s[k] === v)) out.push(s);
      });
    }
    return out;
  }, { type, extra });
}

/** Audio packets the page received so far, from everyone. */
async function audioReceived(page) {
  const s = await stats(page, 'inbound-rtp', { kind: 'audio' });
  return s.reduce((n, x) => n + (x.packetsReceived ?? 0), 0);
}

async function say(page, text) {
  const box = page.getByTestId('chat-input');
  await box.fill(text);
  await box.press('Enter');
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
  const id = await liveSession(server.url, 'expert');
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

  // The technician, already receiving, turns the camera on (a re-offer on
  // a peer connection the server offered first): the expert decodes it.
  await tech.page.getByTestId('media-camera').click();
  await tech.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await expert.page.waitForFunction(() => [...document.querySelectorAll('[data-testid=remote-video]')]
    .some((v) => /:camera$/.test(v.dataset.stream ?? '') && v.getVideoPlaybackQuality().totalVideoFrames > 5 && v.videoWidth > 0),
  null, { timeout: 20_000 });
  await tech.page.getByTestId('media-camera').click();
  await expert.page.locator('[data-testid=remote-video]').waitFor({ state: 'detached', timeout: 20_000 });

  // The expert turns the camera off: the technician's tile goes.
  await expert.page.getByTestId('media-camera').click();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ state: 'detached', timeout: 20_000 });

  await expert.context.close();
  await tech.context.close();
  await until('the server closed every peer connection', async () => (await peerConnections()) === 0);
});

test('simulcast: the subscriber gets the high layer; data-only keeps chat and the pinned mode sticks', async (t) => {
  const id = await liveSession(server.url, 'expert');
  const expert = await person(t, 'expert');
  const tech = await person(t, 'tech');
  await enterRoom(expert.page, id);
  await enterRoom(tech.page, id);

  await expert.page.getByTestId('media-camera').click();
  await expert.page.getByTestId('media-mic').click();
  await expert.page.locator('[data-testid=media-mic][aria-pressed=true]').waitFor();

  // The camera goes out as two layers.
  await until('the expert sends both simulcast layers', async () => {
    const out = await stats(expert.page, 'outbound-rtp', { kind: 'video' });
    const rids = new Set(out.filter((s) => (s.packetsSent ?? 0) > 0).map((s) => s.rid));
    return rids.has('h') && rids.has('l');
  }, 30_000);
  // On a clean link the technician gets the high layer (the low one is a
  // quarter of the width: 160 px of the fake camera's 640).
  await tech.page.waitForFunction(() => {
    const v = document.querySelector('[data-testid=remote-video]');
    return v && v.getVideoPlaybackQuality().totalVideoFrames > 5 && v.videoWidth > 160;
  }, null, { timeout: 40_000 });
  // Both run in video mode, chosen automatically, and the tile shows a
  // link quality.
  for (const p of [expert.page, tech.page]) {
    await p.locator('[data-testid=media-mode-now][data-mode=video][data-pinned=false]').waitFor();
  }
  await tech.page.locator('figure.media-tile [data-testid=link-quality]').first().waitFor({ timeout: 20_000 });

  // The technician pins data only: no media either way, chat goes on.
  await tech.page.getByTestId('media-mode').selectOption('data');
  await tech.page.locator('[data-testid=media-mode-now][data-mode=data][data-pinned=true]').waitFor();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ state: 'detached', timeout: 20_000 });
  const before = await audioReceived(tech.page);
  await say(tech.page, '仅数据模式下的文字');
  await expert.page.locator('[data-testid=chat-message]:not([data-pending])', { hasText: '仅数据模式下的文字' }).waitFor();
  await say(expert.page, '收到');
  await tech.page.locator('[data-testid=chat-message]:not([data-pending])', { hasText: '收到' }).waitFor();
  // The pin sticks on a clean link (the automatic choice would be video).
  await new Promise((r) => setTimeout(r, 6_000));
  await tech.page.locator('[data-testid=media-mode-now][data-mode=data][data-pinned=true]').waitFor({ timeout: 1_000 });
  assert.equal(await tech.page.locator('[data-testid=remote-video]').count(), 0, 'no video in data-only mode');
  const after = await audioReceived(tech.page);
  assert.ok(after - before < 60, `no audio forwarded in data-only mode (${after - before} packets)`);
  // The expert's page sees the technician's mode (published: none here,
  // so the technician has no tile) and still receives nothing odd.

  // Back to automatic: video again.
  await tech.page.getByTestId('media-mode').selectOption('auto');
  await tech.page.locator('[data-testid=media-mode-now][data-mode=video][data-pinned=false]').waitFor();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ timeout: 20_000 });

  await expert.context.close();
  await tech.context.close();
  await until('the server closed every peer connection', async () => (await peerConnections()) === 0);
});

test('a page on an impaired link (300 kbit/s, 5 % loss, 150 ms) drops to audio only by itself; its audio keeps flowing', async (t) => {
  const id = await liveSession(server.url, 'expert');
  const path = impairedPath({ kbps: 300, loss: 0.05, delayMs: 150 });
  t.after(() => path.close());
  const expert = await person(t, 'expert');
  const tech = await person(t, 'tech', { viewport: { width: 360, height: 740 } }, { impaired: path });
  await enterRoom(expert.page, id);
  await enterRoom(tech.page, id);

  await tech.page.getByTestId('media-mic').click();
  await tech.page.locator('[data-testid=media-mic][aria-pressed=true]').waitFor();
  await tech.page.getByTestId('media-camera').click();
  await tech.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await expert.page.getByTestId('media-mic').click();

  // The technician's media really goes through the relay. A DTLS
  // handshake can be lost on this path (ICE connects, the handshake never
  // ends): the page starts over after 15 s of `connecting`.
  await until('media flows through the impaired path', async () => path.stats.up.sent > 100, 45_000)
    .catch(async (e) => {
      const pcs = await tech.page.evaluate(() => window.__pcs.map((pc) => `${pc.connectionState}/${pc.iceConnectionState}/${pc.signalingState}`));
      const signalling = await tech.page.evaluate(() => window.__jlSignalling);
      throw new Error(`${e.message}: ${JSON.stringify({ ...path.stats, pcs, signalling })}`);
    });

  // By itself (nothing pinned), the technician's page leaves video and
  // settles in audio only (5 s in a row: not just passing through).
  let since = null;
  const seen = [];
  await until('the impaired page settles in audio only', async () => {
    const now = tech.page.locator('[data-testid=media-mode-now]');
    const mode = `${await now.getAttribute('data-mode')}/${await now.getAttribute('data-pinned')}`;
    if (seen.at(-1) !== mode) seen.push(mode);
    since = mode === 'audio/false' ? (since ?? Date.now()) : null;
    return since !== null && Date.now() - since >= 5_000;
  }, 150_000).catch((e) => { throw new Error(`${e.message}; modes: ${seen.join(' → ')}`); });
  t.diagnostic(`modes: ${seen.join(' → ')}`);
  await screenshot(tech.page, 'media-impaired-audio-only-360');

  // Its audio keeps flowing to the expert, and the expert's to it.
  const expertHeard = await audioReceived(expert.page);
  const techHeard = await audioReceived(tech.page);
  await new Promise((r) => setTimeout(r, 5_000));
  const moreExpert = (await audioReceived(expert.page)) - expertHeard;
  const moreTech = (await audioReceived(tech.page)) - techHeard;
  // Opus sends 50 packets a second; 5 % are lost each way.
  assert.ok(moreExpert > 150, `the expert hears the technician (${moreExpert} packets in 5 s)`);
  assert.ok(moreTech > 150, `the technician hears the expert (${moreTech} packets in 5 s)`);
  // No video is encoded any more (the browser may still pad the stream
  // to probe the link).
  const frames = async () => (await stats(tech.page, 'outbound-rtp', { kind: 'video' }))
    .reduce((n, s) => n + (s.framesEncoded ?? 0), 0);
  const framesBefore = await frames();
  await new Promise((r) => setTimeout(r, 2_000));
  const framesAfter = await frames();
  assert.ok(framesAfter - framesBefore <= 1, `no video encoded in audio-only mode (${framesAfter - framesBefore} frames)`);
  // The expert's page shows the technician's link as not good.
  await expert.page.locator('[data-testid=remote-audio] [data-testid=link-quality]:not([data-quality=good])')
    .first().waitFor({ timeout: 20_000 });
  t.diagnostic(`relay: up ${JSON.stringify(path.stats.up)}, down ${JSON.stringify(path.stats.down)}`);
  // Whether the page had to start over (a DTLS handshake lost on the path).
  await reportTrouble(t, { tech: tech.page });

  await expert.context.close();
  await tech.context.close();
  await until('the server closed every peer connection', async () => (await peerConnections()) === 0);
});
