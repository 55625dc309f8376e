// Helpers of the media tests that read what the browser itself measures:
// every RTCPeerConnection a page makes is kept (an init script wraps the
// constructor, the app is unchanged) so the test can ask its getStats()
// which candidate pair carries the call and how many frames were decoded.
import assert from 'node:assert/strict';
import { openPage, apiLogin, DEMO_PASSWORD } from './harness.mjs';

const QINAN = '秦安县计量检定所';

/** Keep the page's peer connections in `window.__jlPeers`. */
export async function recordPeerConnections(page) {
  await page.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    window.__jlPeers = [];
    window.RTCPeerConnection = function RTCPeerConnection(...args) {
      const pc = new Original(...args);
      window.__jlPeers.push({ pc, config: args[0] ?? {} });
      return pc;
    };
    window.RTCPeerConnection.prototype = Original.prototype;
    Object.setPrototypeOf(window.RTCPeerConnection, Original);
  });
}

/** What the page's open peer connection reports: video frames decoded,
 *  the selected pair's local and remote candidate types, the types of
 *  every local candidate gathered, and the configuration it was made with
 *  (TURN credentials blanked). */
export async function mediaStats(page) {
  return page.evaluate(async () => {
    const open = (window.__jlPeers ?? []).filter((p) => p.pc.connectionState !== 'closed');
    const last = open[open.length - 1];
    if (!last) return null;
    const stats = await last.pc.getStats();
    const byId = new Map();
    stats.forEach((s) => byId.set(s.id, s));
    let framesDecoded = 0;
    let selected = null;
    const localTypes = new Set();
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += s.framesDecoded ?? 0;
      if (s.type === 'transport' && s.selectedCandidatePairId) selected = byId.get(s.selectedCandidatePairId);
      if (s.type === 'local-candidate') localTypes.add(s.candidateType);
    });
    const config = JSON.parse(JSON.stringify(last.config));
    for (const s of config.iceServers ?? []) if (s.credential) s.credential = '…';
    return {
      state: last.pc.connectionState,
      framesDecoded,
      local: selected ? byId.get(selected.localCandidateId)?.candidateType : null,
      remote: selected ? byId.get(selected.remoteCandidateId)?.candidateType : null,
      localTypes: [...localTypes].sort(),
      config,
    };
  });
}

/** Poll `check` (async, truthy when done) every 250 ms for `ms`. */
export async function until(what, check, ms = 30_000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A live session of Qin'an hosted by `host`; its id. */
export async function liveSession(url, host, title = '音视频指导') {
  const api = await apiLogin(url, host);
  const labs = Object.fromEntries((await api.get('/api/v1/institutions')).map((i) => [i.name_zh, i.id]));
  const s = await api.post('/api/v1/sessions', {
    title,
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [labs[QINAN]],
  });
  await api.post(`/api/v1/sessions/${s.id}/start`);
  return s.id;
}

/** A logged-in page of `username` in its own browser context, recording
 *  its peer connections. */
export async function person(t, browser, url, username) {
  const context = await browser.newContext();
  const page = await openPage(context, t);
  await recordPeerConnections(page);
  await page.goto(`${url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

export async function enterRoom(url, page, id) {
  await page.goto(`${url}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await page.getByTestId('media-panel').waitFor();
}

/** Frames decoded on `page` grow by at least `by` within the timeout. */
export async function decodesMore(page, what, by = 20) {
  const start = (await until(`${what}: a connected peer connection`, async () => {
    const s = await mediaStats(page);
    return s && s.framesDecoded > 0 ? s : null;
  })).framesDecoded;
  return until(`${what}: ${by} more frames decoded`, async () => {
    const s = await mediaStats(page);
    return s && s.framesDecoded >= start + by ? s : null;
  });
}

/** Record the page's signalling calls and their outcome in
 *  `window.__jlSignalling` (a failure's message shows them). */
export async function traceSignalling(page) {
  await page.addInitScript(() => {
    window.__jlSignalling = [];
    // Every SDP sent or received on the room socket (extmapClashes).
    window.__jlSdps = [];
    const log = (e) => window.__jlSignalling.push(`${(performance.now() / 1000).toFixed(3)} ${e}`);
    const proto = RTCPeerConnection.prototype;
    for (const name of ['setLocalDescription', 'setRemoteDescription']) {
      const original = proto[name];
      proto[name] = function (...args) {
        const what = `${name}(${args[0]?.type ?? ''}) in ${this.signalingState}`;
        return original.apply(this, args).then(
          (v) => { log(`${what} -> ${this.signalingState} ${this.localDescription?.type ?? ''}`); return v; },
          (e) => { log(`${what} FAILED ${e.name}: ${e.message}`); throw e; },
        );
      };
    }
    // The handler property lives on the native prototype, also when a test
    // wrapped the constructor in a subclass (its prototype then inherits).
    let owner = proto;
    while (owner && !Object.getOwnPropertyDescriptor(owner, 'onnegotiationneeded')) owner = Object.getPrototypeOf(owner);
    const setter = Object.getOwnPropertyDescriptor(owner, 'onnegotiationneeded').set;
    Object.defineProperty(proto, 'onnegotiationneeded', {
      set(f) { setter.call(this, f && ((ev) => { log(`negotiationneeded in ${this.signalingState}`); return f(ev); })); },
    });
    const frame = (data) => {
      try {
        const f = JSON.parse(data);
        if (f.type === 'media_closed') return `media_closed ${f.reason}`;
        if (f.type === 'media_stop') return 'media_stop';
        if (!/^media_(offer|answer)$/.test(f.type ?? '')) return null;
        return `${f.type} (${f.sdp?.length} bytes)`;
      } catch { return null; }
    };
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      const f = typeof data === 'string' && frame(data);
      if (f) log(`sent ${f}`);
      if (f && / \(/.test(f)) window.__jlSdps.push({ what: `sent ${f}`, sdp: JSON.parse(data).sdp });
      return send.call(this, data);
    };
    const Ws = window.WebSocket;
    window.WebSocket = function WebSocket(...args) {
      const ws = new Ws(...args);
      ws.addEventListener('message', (ev) => {
        const f = typeof ev.data === 'string' && frame(ev.data);
        if (f) log(`got ${f}`);
        if (f && / \(/.test(f)) window.__jlSdps.push({ what: `got ${f}`, sdp: JSON.parse(ev.data).sdp });
      });
      return ws;
    };
    window.WebSocket.prototype = Ws.prototype;
    Object.setPrototypeOf(window.WebSocket, Ws);
  });
}

/** RTP header extensions whose id is not the same in every SDP the page
 *  sent or received, or ids that name two extensions: a BUNDLE group must
 *  map an id to one extension, and Chromium refuses a description that
 *  moves one ("RTP extension ID reassignment not supported"). Empty when
 *  the server's offers take the ids the browser's offers use. */
export async function extmapClashes(page) {
  const sdps = await page.evaluate(() => window.__jlSdps ?? []);
  const byUri = new Map();
  const byId = new Map();
  // Where each mapping was first seen: which SDP (sent or got, in order).
  const add = (map, key, value, where) => {
    const seen = map.get(key) ?? map.set(key, new Map()).get(key);
    if (!seen.has(value)) seen.set(value, where);
  };
  sdps.forEach(({ what, sdp }, i) => {
    for (const [, id, uri] of sdp.matchAll(/^a=extmap:(\d+)(?:\/\w+)? (\S+)/gm)) {
      add(byUri, uri, id, `#${i} ${what}`);
      add(byId, id, uri, `#${i} ${what}`);
    }
  });
  const list = (seen) => [...seen].map(([v, where]) => `${v} (${where})`).join(', ');
  return [...byUri].filter(([, ids]) => ids.size > 1).map(([uri, ids]) => `${uri} as ${list(ids)}`)
    .concat([...byId].filter(([, uris]) => uris.size > 1).map(([id, uris]) => `id ${id} for ${list(uris)}`));
}

/** Descriptions the browser refused and fresh starts (`media_stop`) on
 *  each page, as the test's diagnostics: the workarounds' fallbacks should
 *  stay unused now that the server's offers cannot collide with the
 *  browser's (docs/protocol.md, "Perfect negotiation"). */
export async function reportTrouble(t, pages) {
  for (const [who, page] of Object.entries(pages)) {
    const trouble = (await page.evaluate(() => window.__jlSignalling ?? [])).filter((l) => /FAILED|media_stop/.test(l));
    t.diagnostic(`${who}: ${trouble.length} refused descriptions or fresh starts${trouble.length ? `: ${trouble.join('; ')}` : ''}`);
  }
}

/** What the page receives, by stream id (`{user}:{source}`): video frames
 *  decoded and audio samples received, from its peer connections'
 *  inbound-rtp statistics (tracks matched to the page's elements). */
export function received(page) {
  return page.evaluate(async () => {
    const byTrack = new Map();
    for (const el of document.querySelectorAll('video[data-stream], audio[data-stream]')) {
      for (const track of el.srcObject?.getTracks() ?? []) byTrack.set(track.id, el.dataset.stream);
    }
    const out = {};
    for (const { pc } of window.__jlPeers ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        const stream = s.type === 'inbound-rtp' ? byTrack.get(s.trackIdentifier) : undefined;
        if (!stream) return;
        out[stream] ??= { frames: 0, samples: 0 };
        out[stream].frames += s.framesDecoded ?? 0;
        out[stream].samples += s.totalSamplesReceived ?? 0;
      });
    }
    return out;
  });
}
