// Media soak (issue 14): a publishing Chromium page (fake camera and
// microphone) joins a live session's room, publishes, and leaves, again and
// again, while a second page stays in the room and receives; every few
// cycles the receiver must decode the publisher's video and audio. The
// publisher leaves by turns cleanly (the app leaves the room: `media_stop`,
// the socket closed) and by vanishing (its renderer is killed: no goodbye
// on the socket, no DTLS close, its UDP just stops).
//
// Before the cycles (after a short warm-up: the first peer connections fill
// the allocator's arenas and the runtime's worker pool) and after them (once
// the SFU is down to the receiver and a settle time passed), the server's
// live tokio tasks, its open UDP sockets, threads, open files and resident
// memory, and the SFU's own counts (peer connections, published and
// forwarded tracks, its tasks) are sampled: they must come back to the
// baseline within the tolerances below. A leak grows with the cycles (200
// by default: one task, socket or transceiver per cycle is far beyond
// them), noise does not.
//
// JILIANG_MEDIA_SOAK_CYCLES sets the number of cycles (default 200);
// JILIANG_MEDIA_SOAK_SERVER_LOG names a file for the server's log when a
// wait times out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { startServer, launchBrowserForPeople, openPage } from './harness.mjs';
import { liveSession } from './media_stats.mjs';

const CYCLES = Number(process.env.JILIANG_MEDIA_SOAK_CYCLES ?? 200);
/** Where to write the server's log when a wait times out (to debug). */
const SERVER_LOG = process.env.JILIANG_MEDIA_SOAK_SERVER_LOG;
const WARMUP = Math.min(6, CYCLES);
/** Cycles whose receiver must decode the publisher (besides the first and last). */
const CHECK_EVERY = 50;
const SETTLE_MS = 3_000;
const PASSWORD = 'Jiliang-demo-2026';

/** How far "after" may be from "before". Tasks: HTTP keep-alive
 *  connections of the test's own metric polling come and go; threads: the
 *  runtime's blocking pool keeps idle threads for a while; memory: the
 *  allocator keeps freed pages. */
const TOLERANCE = {
  tasks: 12,
  udp: 0,
  threads: 6,
  fds: 8,
  rssMiB: (base) => Math.max(24, base * 0.25),
};

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

/** Every RTCPeerConnection the page makes, for `getStats`. */
const CAPTURE_PCS = `(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();`;

async function login(t, username, options = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript(CAPTURE_PCS);
  const page = await openPage(context, t);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

/** Into the room, video mode pinned: the automatic choice reads the
 *  link's statistics, and on a machine saturated by the soak itself it may
 *  fall back to audio only, which is another test's subject. */
async function enterRoom(page, id) {
  await page.goto(`${server.url}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await page.getByTestId('media-panel').waitFor();
  await page.getByTestId('media-mode').selectOption('video');
  await page.locator('[data-testid=media-mode-now][data-mode=video][data-pinned=true]').waitFor();
}

/** The server's `/metrics`, as name → value (unlabelled series). */
async function metrics() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^(jiliang_[a-z_]+) (\S+)$/);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** The SFU's counts. */
async function sfu() {
  const m = await metrics();
  return {
    peers: m.jiliang_media_peer_connections,
    tracks: m.jiliang_media_tracks,
    forwarded: m.jiliang_media_forwarded_tracks,
    sfuTasks: m.jiliang_media_tasks,
    tasks: m.jiliang_tokio_alive_tasks,
  };
}

/** UDP sockets the server process holds: its socket descriptors whose
 *  inode is in the UDP tables of its network namespace. */
function udpSockets(pid) {
  const inodes = new Set();
  for (const table of ['udp', 'udp6']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9) inodes.add(cols[9]);
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m && inodes.has(m[1])) n += 1;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1]);
  return {
    rssMiB: field('VmRSS') / 1024,
    threads: field('Threads'),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    udp: udpSockets(pid),
  };
}

/** One sample of everything compared: the median of `n` readings a
 *  moment apart, so a poll that lands on a passing task does not count. */
async function sample(n = 5) {
  const rows = [];
  for (let i = 0; i < n; i += 1) {
    rows.push({ ...(await sfu()), ...procStats(server.pid()) });
    await new Promise((r) => setTimeout(r, 300));
  }
  const median = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
  return Object.fromEntries(Object.keys(rows[0]).map((k) => [k, median(k)]));
}

async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) {
      if (SERVER_LOG) writeFileSync(SERVER_LOG, server.log());
      assert.fail(`timed out: ${what}; SFU ${JSON.stringify(await sfu())}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The receiver decodes the publisher's camera and hears its microphone:
 *  the tile's decoded frames and the audio samples received both grow. */
async function receiverDecodes(page) {
  const read = () => page.evaluate(async () => {
    const v = [...document.querySelectorAll('[data-testid=remote-video]')]
      .find((e) => /:camera$/.test(e.dataset.stream ?? ''));
    let samples = 0;
    for (const pc of window.__pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') samples += s.totalSamplesReceived ?? 0;
      });
    }
    return { frames: v && v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : 0, samples };
  });
  const first = await until('the receiver shows the publisher camera', async () => {
    const r = await read();
    return r.frames > 0 ? r : null;
  });
  await until('the receiver decodes video and audio', async () => {
    const r = await read();
    return r.frames > first.frames + 3 && r.samples > first.samples;
  });
}

/** Publish camera and microphone; resolves when the server forwards both
 *  to the receiver. */
async function publish(page) {
  await page.getByTestId('media-camera').click();
  await page.getByTestId('media-mic').click();
  await page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await page.locator('[data-testid=media-mic][aria-pressed=true]').waitFor();
  await until('the server forwards the publisher tracks', async () => {
    const s = await sfu();
    return s.peers === 2 && s.tracks === 2 && s.forwarded === 2;
  });
}

/** Only the receiver's media is left on the server: its peer connection
 *  (opened for the first publisher, kept through every renegotiation). */
async function publisherGone() {
  await until('the publisher media is gone from the server, the receiver still connected', async () => {
    const s = await sfu();
    return s.peers === 1 && s.tracks === 0 && s.forwarded === 0;
  });
}

test(`media soak: ${CYCLES} join, publish and leave cycles return the server to its baseline`, { timeout: 30 * 60_000 }, async (t) => {
  const id = await liveSession(server.url, 'expert', '音视频进出浸泡测试');
  const receiver = await login(t, 'expert');
  await enterRoom(receiver.page, id);

  // The publisher's context, logged in once; after a vanished page its
  // successor opens in it with the same login.
  const tech = await login(t, 'tech');
  const { context } = tech;
  let { page } = tech;
  let vanished = 0;
  let clean = 0;

  const cycle = async (n, check = n === 1 || n === CYCLES || n % CHECK_EVERY === 0) => {
    await enterRoom(page, id);
    await publish(page);
    if (check) await receiverDecodes(receiver.page);
    if (n % 2 === 0) {
      // Vanish: the renderer dies; the browser drops its sockets with no
      // close frame and no DTLS close.
      const cdp = await context.newCDPSession(page);
      const crashed = new Promise((r) => page.once('crash', r));
      cdp.send('Page.crash').catch(() => {});
      await crashed;
      await page.close().catch(() => {});
      await publisherGone();
      page = await openPage(context, t);
      vanished += 1;
    } else {
      // Clean leave: back to the session list inside the app.
      await page.locator('nav.breadcrumb a[href="/sessions"]').click();
      await page.waitForURL(/\/sessions$/);
      await publisherGone();
      clean += 1;
    }
  };

  for (let n = 1; n <= WARMUP; n += 1) await cycle(n);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const base = await sample();

  const started = Date.now();
  for (let n = WARMUP + 1; n <= CYCLES; n += 1) {
    await cycle(n);
    if (n % 25 === 0) {
      const s = await sfu();
      const p = procStats(server.pid());
      console.log(`# cycle ${n}: ${((Date.now() - started) / (n - WARMUP) / 1000).toFixed(2)} s/cycle, tasks ${s.tasks}, udp ${p.udp}, threads ${p.threads}, RSS ${p.rssMiB.toFixed(1)} MiB`);
    }
  }
  const perCycle = (Date.now() - started) / Math.max(1, CYCLES - WARMUP) / 1000;
  // The receiver's own connection: one audio and one video section for
  // the one publisher at a time, however many came and went.
  const transceivers = await receiver.page.evaluate(() => (window.__pcs ?? [])
    .filter((pc) => pc.connectionState !== 'closed')
    .reduce((n, pc) => n + pc.getTransceivers().length, 0));
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const end = await sample();

  const row = (k, digits = 0) => `${k} ${base[k].toFixed(digits)} → ${end[k].toFixed(digits)}`;
  console.log(`# media soak: ${CYCLES} cycles (${clean} clean, ${vanished} vanished), ${perCycle.toFixed(2)} s per cycle, receiver transceivers ${transceivers}; `
    + [row('tasks'), row('sfuTasks'), row('peers'), row('tracks'), row('forwarded'), row('udp'),
      row('threads'), row('fds'), row('rssMiB', 1)].join(', '));

  assert.ok(transceivers <= 4, `the receiver's connection holds ${transceivers} transceivers after ${CYCLES} publishers`);
  // The SFU holds exactly the receiver again.
  assert.equal(end.peers, 1, 'peer connections: the receiver only');
  assert.equal(end.tracks, 0, 'no published track left');
  assert.equal(end.forwarded, 0, 'no forwarded track left');
  assert.equal(end.sfuTasks, base.sfuTasks, 'SFU tasks back to the baseline');
  assert.ok(end.udp <= base.udp + TOLERANCE.udp, `UDP sockets ${base.udp} → ${end.udp}`);
  assert.ok(end.tasks <= base.tasks + TOLERANCE.tasks, `tokio tasks ${base.tasks} → ${end.tasks}`);
  assert.ok(end.threads <= base.threads + TOLERANCE.threads, `threads ${base.threads} → ${end.threads}`);
  assert.ok(end.fds <= base.fds + TOLERANCE.fds, `open files ${base.fds} → ${end.fds}`);
  assert.ok(end.rssMiB <= base.rssMiB + TOLERANCE.rssMiB(base.rssMiB),
    `RSS ${base.rssMiB.toFixed(1)} → ${end.rssMiB.toFixed(1)} MiB`);

  // And the receiver still receives a newcomer (its peer connection went
  // through every renegotiation).
  await cycle(CYCLES + 1, true);
});
