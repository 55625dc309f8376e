// Everything turned on at once: people press microphone, camera and screen
// one right after the other, two of them at the same moment, so their
// offers cross the server's (which carry the others' new tracks) — on a
// connection's very first negotiation too, where Chromium's rollback used
// to leave its transceivers unable to offer again. Perfect negotiation must
// sort it out: every track reaches the server and every other page decodes
// it (getStats: video framesDecoded and audio totalSamplesReceived grow for
// each stream). Then everything off and on again, the three at once, with
// every page's SDP well inside the server's limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startServer, chromiumArgs, apiLogin } from './harness.mjs';
import { received, person, enterRoom, liveSession, until, traceSignalling, extmapClashes, reportTrouble } from './media_stats.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      ...chromiumArgs,
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--auto-select-desktop-capture-source=Entire screen',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
});
after(async () => {
  await browser?.close();
  if (process.env.JILIANG_SERVER_LOG && server) writeFileSync(process.env.JILIANG_SERVER_LOG, server.log());
  await server?.stop();
});

const SOURCES = [['media-mic', 'microphone'], ['media-camera', 'camera'], ['media-screen', 'screen']];

async function metric(name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function userId(name) {
  const api = await apiLogin(server.url, name);
  return (await api.get('/api/v1/auth/me')).user.id;
}

/** The page's peer connections, for a failure's message. */
function peers(page) {
  return page.evaluate(() => (window.__jlPeers ?? []).map(({ pc }) => ({
    state: pc.connectionState,
    signaling: pc.signalingState,
    transceivers: pc.getTransceivers().map((x) => `${x.mid}:${x.direction}:${x.currentDirection}:${x.sender.track?.kind ?? '-'}/${x.receiver.track?.kind}`),
    sdp: pc.localDescription?.sdp.length,
  })).concat(window.__jlSignalling ?? []));
}

/** Press each button right after the other (a click waits only until the
 *  button is enabled again: the device before it opened). */
async function pressAll(page, pressed) {
  for (const [testid] of SOURCES) await page.getByTestId(testid).click();
  for (const [testid] of SOURCES) await page.locator(`[data-testid=${testid}][aria-pressed=${pressed}]`).waitFor();
}

/** `page` decodes each of `other`'s three streams, more and more. */
async function receivesAll(page, who, other, pages) {
  const want = SOURCES.map(([, source]) => `${other}:${source}`);
  let first = null;
  let last = null;
  await until(`${who} receives microphone, camera and screen`, async () => {
    last = await received(page);
    if (!want.every((s) => last[s])) return false;
    first ??= last;
    return last[`${other}:camera`].frames >= first[`${other}:camera`].frames + 10
      && last[`${other}:screen`].frames >= first[`${other}:screen`].frames + 5
      && last[`${other}:microphone`].samples >= first[`${other}:microphone`].samples + 48_000;
  }, 45_000).catch(async (e) => {
    const pcs = {};
    for (const [name, p] of Object.entries(pages)) pcs[name] = await peers(p);
    throw new Error(`${e.message}: ${JSON.stringify({ first, last, tracks: await metric('jiliang_media_tracks'), pcs })}`);
  });
}

test('microphone, camera and screen turned on at once, by one and then by two together: every track arrives and is decoded', async (t) => {
  const id = await liveSession(server.url, 'expert', '同时开启');
  const names = ['expert', 'tech', 'trainee'];
  const ids = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await userId(n)])));
  const people = {};
  for (const n of names) {
    people[n] = await person(t, browser, server.url, n);
    await traceSignalling(people[n].page);
  }
  const pages = Object.fromEntries(names.map((n) => [n, people[n].page]));
  for (const page of Object.values(pages)) {
    await enterRoom(server.url, page, id);
    // Video pinned: a busy machine must not talk a page down to audio only.
    await page.getByTestId('media-mode').selectOption('video');
  }
  const tracks = async (n, what) => until(`${what}: the server receives all ${n} tracks`, async () => (await metric('jiliang_media_tracks')) === n, 30_000)
    .catch(async (e) => {
      const pcs = {};
      for (const [name, p] of Object.entries(pages)) pcs[name] = await peers(p);
      throw new Error(`${e.message} (${await metric('jiliang_media_tracks')}): ${JSON.stringify(pcs)}`);
    });
  const everyoneReceives = async (what) => {
    for (const who of names) {
      for (const other of names.filter((n) => n !== who)) await receivesAll(pages[who], `${what}: ${who} from ${other}`, ids[other], pages);
    }
  };
  // The expert first, alone: no one else's offer to cross.
  await pressAll(pages.expert, 'true');
  await tracks(3, 'the expert');
  // The two others at the same moment: each one's first offer crosses
  // the server's first offer (the expert's tracks) to that page.
  await Promise.all([pressAll(pages.tech, 'true'), pressAll(pages.trainee, 'true')]);
  await tracks(9, 'all three');
  await everyoneReceives('first');
  for (const [name, p] of Object.entries(pages)) assert.deepEqual(await extmapClashes(p), [], `${name}: header extension ids`);
  await reportTrouble(t, pages);
  // All off and on again, the three at once (offers cross on connections
  // already negotiated). Each source turned on adds sections to a page's
  // offers, and the receive-only transceivers the server's offers created
  // are in them too: before they were limited to VP8/Opus as well
  // (setCodecPreferences on each `track` event's transceiver), a client's
  // offer could pass the server's 32 KiB SDP limit here and its media was
  // refused ("The SDP is too long", 1 run of 3).
  await t.test('all off and on again at once', async () => {
    await Promise.all(Object.values(pages).map((p) => pressAll(p, 'false')));
    await tracks(0, 'all off');
    await Promise.all(Object.values(pages).map((p) => pressAll(p, 'true')));
    await tracks(9, 'all on again');
    await everyoneReceives('again');
    for (const [name, p] of Object.entries(pages)) {
      const sizes = await p.evaluate(() => (window.__jlPeers ?? []).filter(({ pc }) => pc.connectionState !== 'closed')
        .map(({ pc }) => (pc.localDescription?.sdp ?? '').length));
      for (const n of sizes) assert.ok(n < 16_384, `${name}: its SDP (${n} bytes) stays well inside the server's 32 KiB limit`);
    }
  });
  for (const n of names) await people[n].context.close();
});
