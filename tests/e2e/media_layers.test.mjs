// One slow subscriber does not lower everyone's picture (issue 14, item 4).
// The expert publishes the camera as two simulcast layers; two subscribers
// pin video mode (so their own automatic mode does not just drop video);
// only the technician's downlink is impaired (300 kbit/s through the
// user-space relay of impair.mjs; its uplink, which carries its RTCP
// feedback, is left clean). The server's choice, per subscriber and from
// that subscriber's own feedback, must put the technician on the low layer
// (its decoded frames a quarter wide, and `jiliang_media_forwarded_layer`
// counting one low and one high) while the trainee keeps the high layer and
// the expert keeps sending both. When the technician's link is clean again
// it gets the high layer back (a receiver's estimate alone would never say
// so: see server/src/media/layer.rs). Which feedback Chromium sends is read
// from `jiliang_media_feedback` and printed (docs/OPERATIONS.md, "Simulcast
// layers").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowserForPeople, screenshot, artifacts, apiLogin } from './harness.mjs';
import { impairedPath } from './impair.mjs';
import { liveSession, person, enterRoom, until } from './media_stats.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({
    // The SFU's choices and each subscriber report, kept as an artifact.
    env: { RUST_LOG: process.env.RUST_LOG ?? 'warn,jiliang_server::media::sfu=trace' },
  });
  browser = await launchBrowserForPeople({ media: true });
});
after(async () => {
  await browser?.close();
  if (server) {
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(join(artifacts, 'media-layers-server.log'), server.log());
  }
  await server?.stop();
});

/** The server's metrics as `name{labels}` → value. */
async function metrics() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('jiliang_media_')) continue;
    const [name, value] = line.split(' ');
    out[name] = Number(value);
  }
  return out;
}

const layerCount = (m, layer) => m[`jiliang_media_forwarded_layer{layer="${layer}"}`] ?? 0;

/** The page's video streams, as its open peer connections report them. */
function videoStats(page, type) {
  return page.evaluate(async (type) => {
    const out = [];
    for (const { pc } of window.__jlPeers ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === type && s.kind === 'video') out.push(s);
      });
    }
    return out;
  }, type);
}

/** What the page decodes now: the width of the last frame, frames so far. */
async function decoding(page) {
  const inbound = await videoStats(page, 'inbound-rtp');
  const s = inbound.find((x) => (x.framesDecoded ?? 0) > 0);
  return s ? { width: s.frameWidth ?? 0, frames: s.framesDecoded } : { width: 0, frames: 0 };
}

/** Packets sent so far per `rid` of the page's camera. */
async function sentByRid(page) {
  const out = {};
  for (const s of await videoStats(page, 'outbound-rtp')) out[s.rid ?? '-'] = s.packetsSent ?? 0;
  return out;
}

async function pinVideo(page) {
  await page.getByTestId('media-mode').selectOption('video');
  await page.locator('[data-testid=media-mode-now][data-mode=video][data-pinned=true]').waitFor();
}

test('one slow subscriber gets the low layer; the others keep the high one', async (t) => {
  const id = await liveSession(server.url, 'expert', '分层转发');
  // Only the technician's downlink is slow; its feedback goes up unharmed.
  const path = impairedPath({
    down: { kbps: 300, loss: 0, delayMs: 50, queueMs: 400 },
    up: { kbps: 100_000, loss: 0, delayMs: 0, queueMs: 1_000 },
  });
  t.after(() => path.close());
  const expert = await person(t, browser, server.url, 'expert');
  const tech = await person(t, browser, server.url, 'tech');
  await path.route(tech.context);
  const trainee = await person(t, browser, server.url, 'trainee');
  for (const p of [expert, tech, trainee]) await enterRoom(server.url, p.page, id);
  await pinVideo(tech.page);
  await pinVideo(trainee.page);

  await expert.page.getByTestId('media-camera').click();
  await expert.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await until('the technician\'s media goes through the slow path', async () => path.stats.down.sent > 200, 40_000)
    .catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(path.stats)}`); });

  // The state sought: the technician decodes the low layer (160 px of the
  // fake camera's 640), the trainee the high one, and the server says one
  // forwarded video is on each layer.
  const seen = [];
  const state = async () => {
    const [m, slow, fast] = [await metrics(), await decoding(tech.page), await decoding(trainee.page)];
    const now = `low=${layerCount(m, 'low')} high=${layerCount(m, 'high')} tech=${slow.width}px trainee=${fast.width}px`;
    if (seen.at(-1) !== now) seen.push(now);
    return { m, slow, fast };
  };
  const split = await until('the technician on the low layer, the trainee on the high one', async () => {
    const s = await state();
    const ok = layerCount(s.m, 'low') === 1 && layerCount(s.m, 'high') === 1
      && s.slow.width > 0 && s.slow.width <= 160 && s.fast.width > 160;
    return ok ? s : null;
  }, 120_000).catch((e) => { throw new Error(`${e.message}; seen: ${seen.join(' → ')}`); });
  t.diagnostic(`states: ${seen.join(' → ')}`);
  await screenshot(tech.page, 'media-layers-slow-subscriber');

  // Both keep decoding, each its own layer.
  const framesBefore = [split.slow.frames, split.fast.frames];
  await until('both subscribers keep decoding', async () => {
    const [slow, fast] = [await decoding(tech.page), await decoding(trainee.page)];
    return slow.frames > framesBefore[0] + 10 && fast.frames > framesBefore[1] + 10 && fast.width > 160;
  }, 20_000);
  // The expert's browser sends both layers still: the slow subscriber did
  // not lower what the publisher sends.
  const sent = await sentByRid(expert.page);
  await until('the expert sends both layers', async () => {
    const now = await sentByRid(expert.page);
    return now.h > (sent.h ?? 0) + 50 && now.l > (sent.l ?? 0) + 20;
  }, 20_000);

  // Which feedback this Chromium sends the SFU for forwarded streams.
  const m = await metrics();
  const feedback = Object.fromEntries(Object.entries(m)
    .filter(([k]) => k.startsWith('jiliang_media_feedback_total'))
    .map(([k, v]) => [k.replace(/^.*kind="([^"]+)".*$/, '$1'), v]));
  t.diagnostic(`feedback received: ${JSON.stringify(feedback)}`);
  assert.ok((feedback.receiver_report ?? 0) > 0, `receiver reports arrive: ${JSON.stringify(feedback)}`);
  t.diagnostic(`relay: down ${JSON.stringify(path.stats.down)}, up ${JSON.stringify(path.stats.up)}`);

  // The technician's link is clean again: the high layer comes back (after
  // a clean stretch that grows after each failed try, at most 80 reports).
  path.set({ down: { kbps: 100_000, delayMs: 0 } });
  const back = [];
  await until('the technician gets the high layer again', async () => {
    const [mm, slow] = [await metrics(), await decoding(tech.page)];
    const now = `low=${layerCount(mm, 'low')} high=${layerCount(mm, 'high')} tech=${slow.width}px`;
    if (back.at(-1) !== now) back.push(now);
    return layerCount(mm, 'high') === 2 && slow.width > 160;
  }, 150_000).catch((e) => { throw new Error(`${e.message}; seen: ${back.join(' → ')}`); });
  t.diagnostic(`after the link cleared: ${back.join(' → ')}`);
  const techId = (await (await apiLogin(server.url, 'tech')).get('/api/v1/auth/me')).user.id;
  t.diagnostic(`the technician is ${techId}; the server's log: tests/artifacts/media-layers-server.log`);

  for (const p of [expert, tech, trainee]) await p.context.close();
  await until('the server closed every peer connection', async () => (await metrics()).jiliang_media_peer_connections === 0);
  const end = await metrics();
  assert.equal(layerCount(end, 'low') + layerCount(end, 'high'), 0, 'no forwarder left counted');
});
