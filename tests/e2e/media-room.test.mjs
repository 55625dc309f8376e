// Three people in one room through the server's SFU, with Chromium's fake
// devices (three cameras and microphones each, a fake screen): all three
// turn microphone and camera on at the same moment (crossing offers; every
// SDP maps header extension ids alike), and
// every page receives the other two's audio and video (getStats: video framesDecoded
// and audio totalSamplesReceived grow for each of them); the big tile
// follows whoever alone speaks, and the expert's screen share takes it
// while it lasts (stopped and started again, the others see it come, go
// and come); the technician switches camera and microphone while sending
// (the same sender, no renegotiation, the choice remembered) and the
// others keep decoding, the new camera too; one leaves and the others'
// tiles go. Screenshots
// of the three-person room at 360 px and 1280 px; axe-core on its panel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { startServer, chromiumArgs, screenshot, apiLogin } from './harness.mjs';
import { received, person, enterRoom, liveSession, until, traceSignalling, extmapClashes, reportTrouble } from './media_stats.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      ...chromiumArgs,
      // Three fake cameras (and the fake microphones), granted without a
      // prompt: the second one is a depth camera whose frames WebRTC does
      // not encode, the technician switches to the third (see
      // fake-cameras.test.mjs); the fake screen for getDisplayMedia;
      // remote audio plays without a click (its samples are counted).
      '--use-fake-device-for-media-stream=device-count=3',
      '--use-fake-ui-for-media-stream',
      '--auto-select-desktop-capture-source=Entire screen',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
});
after(async () => {
  await browser?.close();
  // The server's log for a failure's diagnosis (run it with RUST_LOG=
  // jiliang_server::media=debug).
  if (process.env.JILIANG_SERVER_LOG && server) writeFileSync(process.env.JILIANG_SERVER_LOG, server.log());
  await server?.stop();
});

async function metric(name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function userId(name) {
  const api = await apiLogin(server.url, name);
  return (await api.get('/api/v1/auth/me')).user.id;
}

/** `page` decodes video and receives audio of each of `others`, more and
 *  more: at least 10 frames and a second of samples more than at first. */
async function receivesFrom(page, who, others) {
  const want = others.flatMap((u) => [`${u}:camera`, `${u}:microphone`]);
  let first = null;
  let last = null;
  await until(`${who} receives audio and video from ${others.length} others`, async () => {
    last = await received(page);
    if (!want.every((s) => last[s])) return false;
    first ??= last;
    return others.every((u) => last[`${u}:camera`].frames >= first[`${u}:camera`].frames + 10
      && last[`${u}:microphone`].samples >= first[`${u}:microphone`].samples + 48_000);
  }, 45_000).catch(async (e) => {
    const shown = await page.evaluate(() => [...document.querySelectorAll('[data-stream], [data-testid=media-mode-now]')].map((el) => `${el.tagName}:${el.dataset.stream ?? el.dataset.mode}`));
    const pcs = await page.evaluate(() => (window.__jlPeers ?? []).map(({ pc }) => ({
      state: pc.connectionState,
      signaling: pc.signalingState,
      transceivers: pc.getTransceivers().map((x) => `${x.mid}:${x.direction}:${x.currentDirection}:${x.receiver.track?.kind}`),
    })));
    const video = await videoStats(page);
    throw new Error(`${e.message}: ${JSON.stringify({ others, first, last, shown, pcs, video })}`);
  });
}

/** The page's video statistics, to tell a frozen stream's cause: what it
 *  receives (frames received and decoded, keyframes, its keyframe requests,
 *  loss) per stream, and what it sends per simulcast layer (encoder
 *  activity, keyframes, the requests it got, why its quality is limited). */
function videoStats(page) {
  return page.evaluate(async () => {
    const byTrack = new Map();
    for (const el of document.querySelectorAll('video[data-stream]')) {
      for (const track of el.srcObject?.getTracks() ?? []) byTrack.set(track.id, el.dataset.stream);
    }
    const receives = [];
    const sends = [];
    for (const { pc } of window.__jlPeers ?? []) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.kind !== 'video') return;
        if (s.type === 'inbound-rtp') {
          receives.push({
            stream: byTrack.get(s.trackIdentifier) ?? s.mid, packets: s.packetsReceived, lost: s.packetsLost,
            received: s.framesReceived, decoded: s.framesDecoded, dropped: s.framesDropped,
            keyframes: s.keyFramesDecoded, pli: s.pliCount, fir: s.firCount, nack: s.nackCount, w: s.frameWidth,
          });
        } else if (s.type === 'outbound-rtp') {
          sends.push({
            rid: s.rid, active: s.active, packets: s.packetsSent, frames: s.framesEncoded, keyframes: s.keyFramesEncoded,
            pli: s.pliCount, fir: s.firCount, w: s.frameWidth, limit: s.qualityLimitationReason,
          });
        }
      });
    }
    return { receives, sends };
  });
}

/** The stream id of the page's large tile (null when none). */
function largeTile(page) {
  return page.evaluate(() => document.querySelector('figure.media-tile[data-large=true] video')?.dataset.stream ?? null);
}

async function waitLarge(page, who, stream, ms = 30_000) {
  let seen = null;
  await until(`${who}: the large tile is ${stream}`, async () => (seen = await largeTile(page)) === stream, ms)
    .catch((e) => { throw new Error(`${e.message} (it is ${seen})`); });
}

/** The page's sending track of `kind`: its id and device, and the
 *  peer connection's local SDP (changes with every renegotiation). */
function sending(page, kind) {
  return page.evaluate((kind) => {
    const open = (window.__jlPeers ?? []).filter((p) => p.pc.connectionState !== 'closed');
    const pc = open[open.length - 1]?.pc;
    const track = pc?.getSenders().map((s) => s.track).find((t) => t?.kind === kind);
    return track ? { id: track.id, device: track.getSettings().deviceId, sdp: pc.localDescription?.sdp } : null;
  }, kind);
}

/** Press a media button with the keyboard (it must be reachable and
 *  labelled, not only clickable). */
async function press(page, testid, pressed) {
  const button = page.getByTestId(testid);
  await button.focus();
  await page.keyboard.press('Enter');
  await page.locator(`[data-testid=${testid}][aria-pressed=${pressed}]`).waitFor();
}

test('three people: each receives the others; the big tile follows the speaker and the expert screen; devices switch; one leaves', async (t) => {
  const id = await liveSession(server.url, 'expert');
  const [expertId, techId, traineeId] = await Promise.all(['expert', 'tech', 'trainee'].map(userId));
  const expert = await person(t, browser, server.url, 'expert');
  const tech = await person(t, browser, server.url, 'tech');
  const trainee = await person(t, browser, server.url, 'trainee');
  await tech.page.setViewportSize({ width: 360, height: 740 });
  await expert.page.setViewportSize({ width: 1280, height: 800 });
  await trainee.page.setViewportSize({ width: 1280, height: 800 });
  const pages = { expert: expert.page, tech: tech.page, trainee: trainee.page };
  for (const page of Object.values(pages)) await traceSignalling(page);
  // Video pinned: this test is about forwarding and layout, and a machine
  // busy with three browsers and builds must not talk a page down to audio
  // only (the automatic modes have their own tests in media.test.mjs).
  for (const page of Object.values(pages)) {
    await enterRoom(server.url, page, id);
    await page.getByTestId('media-mode').selectOption('video');
  }

  // Everyone turns microphone and camera on, from the keyboard, at the
  // same moment: their offers cross the server's, which carry the others'
  // new tracks (perfect negotiation sorts it out; media-crossing.test.mjs
  // presses faster still).
  await Promise.all(Object.values(pages).map(async (page) => {
    await press(page, 'media-mic', 'true');
    await press(page, 'media-camera', 'true');
  }));
  await until('the server receives all 6 tracks', async () => (await metric('jiliang_media_tracks')) === 6, 30_000)
    .catch(async (e) => {
      const pcs = {};
      for (const [who, page] of Object.entries(pages)) {
        pcs[who] = await page.evaluate(() => (window.__jlPeers ?? []).map(({ pc }) => ({
          state: pc.connectionState,
          signaling: pc.signalingState,
          transceivers: pc.getTransceivers().map((x) => `${x.mid}:${x.direction}:${x.currentDirection}:${x.sender.track?.kind ?? '-'}`),
        })));
      }
      for (const [who, page] of Object.entries(pages)) pcs[`${who}Signalling`] = await page.evaluate(() => window.__jlSignalling);
      throw new Error(`${e.message} (${await metric('jiliang_media_tracks')}): ${JSON.stringify(pcs)}`);
    });
  const ids = { expert: expertId, tech: techId, trainee: traineeId };
  for (const [who, page] of Object.entries(pages)) {
    const others = Object.entries(ids).filter(([w]) => w !== who).map(([, u]) => u);
    await receivesFrom(page, who, others);
  }
  // The server's offers gave every header extension the id the browser's
  // own offers use: one mapping in the whole BUNDLE group.
  for (const [who, page] of Object.entries(pages)) {
    assert.deepEqual(await extmapClashes(page), [], `${who}: header extension ids`);
  }
  await reportTrouble(t, pages);

  // Only the expert's microphone is open: the big tile on the others'
  // pages is the expert's camera, and the expert's voice is marked.
  await press(tech.page, 'media-mute', 'true');
  await press(trainee.page, 'media-mute', 'true');
  await waitLarge(trainee.page, 'trainee', `${expertId}:camera`);
  await waitLarge(tech.page, 'tech', `${expertId}:camera`);
  await trainee.page.locator(`[data-testid=remote-audio][data-stream="${expertId}:microphone"][data-speaking=true]`).waitFor({ timeout: 20_000 });
  // Now only the technician's: the big tile moves to the technician.
  await press(expert.page, 'media-mute', 'true');
  await press(tech.page, 'media-mute', 'false');
  await waitLarge(trainee.page, 'trainee', `${techId}:camera`);
  await waitLarge(expert.page, 'expert', `${techId}:camera`);
  // One's own voice never enlarges one's own preview.
  assert.notEqual(await largeTile(tech.page), 'local:camera', 'the technician does not watch itself large');

  // The three-person room, on a phone and on a desktop.
  for (const page of [tech.page, expert.page]) {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scroll (${overflow} px)`);
  }
  // The full panel (device choices, tiles, voices) passes axe-core.
  for (const page of [tech.page, expert.page]) {
    await page.evaluate(axeSource);
    const result = await page.evaluate(() => window.axe.run(document.querySelector('[data-testid=media-panel]'), {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }));
    const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
    assert.deepEqual(serious, [], 'axe-core on the media panel');
  }
  await screenshot(tech.page, 'media-room-3-people-360');
  await screenshot(expert.page, 'media-room-3-people-1280');

  // The expert shares the screen: on the others' pages it comes, large;
  // stopped, it goes (the big tile back on a camera); started again, it
  // comes back and is decoded.
  const screen = `${expertId}:screen`;
  const screenTile = (page) => page.locator(`[data-testid=remote-video][data-stream="${screen}"]`);
  for (let round = 1; round <= 2; round++) {
    await press(expert.page, 'media-screen', 'true');
    for (const [who, page] of [['tech', tech.page], ['trainee', trainee.page]]) {
      await screenTile(page).waitFor({ timeout: 30_000 });
      await waitLarge(page, who, screen);
    }
    await until(`round ${round}: the trainee decodes the expert's screen`, async () => (await received(trainee.page))[screen]?.frames > 5, 30_000);
    if (round === 2) break;
    await press(expert.page, 'media-screen', 'false');
    for (const [who, page] of [['tech', tech.page], ['trainee', trainee.page]]) {
      await screenTile(page).waitFor({ state: 'detached', timeout: 30_000 });
      await until(`${who}: the big tile is a camera again`, async () => /:camera$/.test((await largeTile(page)) ?? ''));
    }
  }

  // The technician switches camera, then microphone, while sending: the
  // same sender carries the new device (its SDP unchanged: no
  // renegotiation), the choice is remembered, the expert keeps decoding.
  for (const [kind, testid, key] of [['video', 'media-camera-device', 'jiliang.media.camera'], ['audio', 'media-microphone-device', 'jiliang.media.microphone']]) {
    const select = tech.page.getByTestId(testid);
    await select.waitFor({ timeout: 10_000 });
    const before = await sending(tech.page, kind);
    assert.ok(before, `the technician sends ${kind}`);
    const options = await select.locator('option').evaluateAll((os) => os.map((o) => ({ id: o.value, label: o.textContent })).filter((o) => o.id));
    assert.ok(options.length >= 2, `${testid}: two devices or more to choose from (${JSON.stringify(options)})`);
    // A colour camera: Chromium's fake_device_1 is a depth camera.
    const other = kind === 'video'
      ? options.find((o) => o.label === 'fake_device_2')?.id
      : options.find((o) => o.id !== before.device)?.id;
    assert.ok(other && other !== before.device, `${testid}: another device (${JSON.stringify(options)}, now ${before.device})`);
    await select.selectOption(other);
    let now = null;
    await until(`the technician's ${kind} sender carries the chosen device`, async () => {
      now = await sending(tech.page, kind);
      return now?.device === other;
    }, 20_000).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify({ before: before.device, now: now?.device, other })}`); });
    assert.notEqual(now.id, before.id, 'a new track');
    assert.equal(now.sdp, before.sdp, 'swapped in place: no renegotiation');
    assert.equal(await tech.page.evaluate((k) => localStorage.getItem(k), key), other, 'the choice is remembered');
  }
  // The expert decodes the technician's new camera: the frames go on
  // growing (after the swap the encoder sends a keyframe of the new
  // picture; the SFU forwards it on the same stream).
  const techCamera = `${techId}:camera`;
  const framesBefore = (await received(expert.page))[techCamera]?.frames ?? 0;
  await until('the expert decodes the technician\'s new camera', async () => (await received(expert.page))[techCamera]?.frames > framesBefore + 20, 30_000)
    .catch(async (e) => {
      const [expertSees, techSends] = await Promise.all([videoStats(expert.page), videoStats(tech.page)]);
      const track = await tech.page.evaluate(() => {
        const open = (window.__jlPeers ?? []).filter((p) => p.pc.connectionState !== 'closed');
        const sender = open[open.length - 1]?.pc.getSenders().find((s) => s.track?.kind === 'video');
        return sender && { settings: sender.track.getSettings(), readyState: sender.track.readyState, label: sender.track.label, encodings: sender.getParameters().encodings };
      });
      throw new Error(`${e.message}: ${JSON.stringify({ framesBefore, expertReceives: expertSees.receives, techSends: techSends.sends, track })}`);
    });
  // The technician's encoder goes on with the new camera (the freeze
  // stalled both layers; a busy machine may pause one, so their sum).
  const encoded = async () => (await videoStats(tech.page)).sends.filter((x) => x.rid).reduce((n, x) => n + (x.frames ?? 0), 0);
  const encodedBefore = await encoded();
  await until('the technician encodes the new camera', async () => (await encoded()) > encodedBefore + 20, 30_000)
    .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify((await videoStats(tech.page)).sends)}`); });
  const samplesBefore = (await received(expert.page))[`${techId}:microphone`]?.samples ?? 0;
  await until('the expert hears the technician\'s new microphone', async () => (await received(expert.page))[`${techId}:microphone`]?.samples > samplesBefore + 48_000, 30_000);

  // The trainee leaves: the trainee's tiles and voice go from the others'.
  await trainee.context.close();
  for (const [who, page] of [['expert', expert.page], ['tech', tech.page]]) {
    await until(`${who}: the trainee's tiles are gone`, async () => (await page.locator(`[data-stream^="${traineeId}:"]`).count()) === 0, 30_000);
    // The two who stay still see each other.
    await page.locator('[data-testid=remote-video]').first().waitFor();
  }
  await expert.context.close();
  await tech.context.close();
});
