// An independent WebRTC peer that no one here wrote: aiortc (PyPI, pinned in
// tests/peers/requirements.txt, in the tests/.venv that scripts/test makes)
// joins the room as the technician through the same API and signalling as
// the app (tests/peers/webrtc_peer.py), publishes a generated video track
// and receives the expert's camera from a Chromium page. Asserted: the page
// decodes the aiortc track (getStats framesDecoded increasing) and aiortc
// decodes frames of the page's track. Skipped (saying why) only when
// tests/.venv has no aiortc.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startServer, launchBrowserForPeople, repo, DEMO_PASSWORD } from './harness.mjs';
import { liveSession, person, enterRoom, mediaStats, decodesMore, until } from './media_stats.mjs';

const python = join(repo, 'tests', '.venv', 'bin', 'python');
const script = join(repo, 'tests', 'peers', 'webrtc_peer.py');

let server;
let browser;
let skip = null;

before(async () => {
  if (!existsSync(python) || spawnSync(python, ['-c', 'import aiortc, websockets']).status !== 0) {
    skip = 'tests/.venv has no aiortc (scripts/test installs tests/peers/requirements.txt)';
    return;
  }
  server = await startServer({ serveArgs: ['--media-udp', '127.0.0.1:0'] });
  browser = await launchBrowserForPeople({ media: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Run the aiortc peer; its JSON lines are collected in `lines`. */
function aiortcPeer(t, args) {
  const child = spawn(python, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  createInterface({ input: child.stdout }).on('line', (l) => {
    try { lines.push(JSON.parse(l)); } catch { stderr += `${l}\n`; }
  });
  const exited = new Promise((ok) => child.on('exit', ok));
  const failure = () => {
    const e = lines.find((l) => l.event === 'error');
    return e ? `aiortc peer failed: ${e.message}\n${stderr}` : null;
  };
  t.after(async () => {
    if (child.exitCode === null) {
      child.stdin.end();
      child.kill('SIGTERM');
    }
    await exited;
  });
  return { lines, failure, stderr: () => stderr };
}

test('an aiortc peer and a Chromium page see each other through the server', async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const id = await liveSession(server.url, 'expert');
  const expert = await person(t, browser, server.url, 'expert');
  await enterRoom(server.url, expert.page, id);
  await expert.page.getByTestId('media-camera').click();
  await expert.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  // The camera is published before aiortc joins (see webrtc_peer.py).
  await expert.page.locator('[data-testid=local-video]').waitFor();

  const peer = aiortcPeer(t, [
    '--base', server.url, '--login', 'tech', '--password', DEMO_PASSWORD,
    '--session', id, '--seconds', '120',
  ]);
  const joined = await until('the aiortc peer joined', () => {
    const f = peer.failure();
    if (f) assert.fail(f);
    return peer.lines.find((l) => l.event === 'joined');
  });
  assert.equal(joined.others_publish, true, 'the snapshot said the expert publishes');

  // aiortc receives the page's camera: frames decoded in aiortc.
  const received = () => {
    const last = peer.lines.filter((l) => l.event === 'frames').at(-1);
    return last ? Math.max(0, ...Object.values(last.received)) : 0;
  };
  await until('aiortc decodes 30 frames of the Chromium camera', () => {
    const f = peer.failure();
    if (f) assert.fail(f);
    return received() >= 30;
  }, 45_000);

  // The page decodes aiortc's generated track, and keeps decoding.
  await expert.page.locator('[data-testid=remote-video]').waitFor({ timeout: 30_000 });
  const s = await decodesMore(expert.page, 'the aiortc track on the expert page', 30);
  assert.equal(s.state, 'connected');
  const stream = await expert.page.locator('[data-testid=remote-video]').getAttribute('data-stream');
  const techId = joined.you;
  assert.equal(stream, `${techId}:camera`, 'the tile is the aiortc peer camera');
  const before = received();
  await until('aiortc keeps decoding', () => received() >= before + 20, 20_000);
  const sent = peer.lines.filter((l) => l.event === 'frames').at(-1).sent;
  assert.ok(sent > 30, `aiortc sent ${sent} frames`);
  assert.equal((await mediaStats(expert.page)).state, 'connected');
  await expert.context.close();
});
