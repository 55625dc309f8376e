// A call through TURN only: Debian's coturn on a loopback port with a fresh
// shared secret (its REST-API scheme), the server started with
// `--ice-servers turn:… --turn-secret … --ice-transport-policy relay`. Two
// Chromium pages get time-limited credentials in their snapshot; the
// expert's camera reaches the technician's page through the relay (getStats:
// the selected candidate pair's local candidate is `relay` on both pages, no
// other kind was gathered, and frames keep being decoded). Wrong credentials
// would get no allocation, so the call also proves coturn accepts ours.
// Skipped (saying why) only where turnserver is missing or cannot start.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowserForPeople, screenshot } from './harness.mjs';
import { liveSession, person, enterRoom, mediaStats, decodesMore, until } from './media_stats.mjs';

const TURNSERVER = process.env.TURNSERVER ?? 'turnserver';

let turn;
let server;
let browser;
let skip = null;

/** A UDP port free on loopback now. */
async function freeUdpPort() {
  const s = createSocket('udp4');
  await new Promise((ok) => s.bind(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

/** coturn on loopback with `secret`; resolves once it listens. */
async function startTurn(secret) {
  const dir = mkdtempSync(join(tmpdir(), 'jiliang-turn-'));
  const port = await freeUdpPort();
  const args = [
    '-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    '--min-port=49152', '--max-port=65535',
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=jiliang',
    '--no-cli', '--no-tls', '--no-dtls', '--allow-loopback-peers',
    `--pidfile=${join(dir, 'turnserver.pid')}`, `--userdb=${join(dir, 'turndb')}`,
    '--log-file=stdout', '--simple-log', '--verbose',
  ];
  const child = spawn(TURNSERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`turnserver did not start:\n${log}`)), 10_000);
    const look = () => {
      if (/listener opened on|Total UDP servers/i.test(log)) { clearTimeout(timer); ok(); }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('error', (e) => { clearTimeout(timer); fail(e); });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`turnserver exited ${code}:\n${log}`)); });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((ok) => child.on('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { port, stop, log: () => log };
}

before(async () => {
  if (spawnSync(TURNSERVER, ['--help'], { stdio: 'ignore' }).error) {
    skip = `turnserver not found (scripts/test installs Debian's coturn; set TURNSERVER to another path)`;
    return;
  }
  const secret = randomBytes(24).toString('hex');
  try {
    turn = await startTurn(secret);
  } catch (e) {
    skip = `turnserver cannot run here: ${e.message.split('\n')[0]}`;
    return;
  }
  server = await startServer({
    serveArgs: [
      '--media-udp', '127.0.0.1:0',
      '--ice-servers', `turn:127.0.0.1:${turn.port}?transport=udp`,
      '--ice-transport-policy', 'relay',
      '--turn-ttl-secs', '600',
    ],
    // The secret through the environment, as docs/OPERATIONS.md says.
    env: { JILIANG_TURN_SECRET: secret },
  });
  browser = await launchBrowserForPeople({ media: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await turn?.stop();
});

test('a call works with the relay-only ICE policy through coturn', async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const id = await liveSession(server.url, 'expert');
  const expert = await person(t, browser, server.url, 'expert');
  const tech = await person(t, browser, server.url, 'tech');
  await enterRoom(server.url, expert.page, id);
  await enterRoom(server.url, tech.page, id);

  await expert.page.getByTestId('media-camera').click();
  await expert.page.locator('[data-testid=media-camera][aria-pressed=true]').waitFor();
  await tech.page.locator('[data-testid=remote-video]').waitFor({ timeout: 30_000 });

  // The technician decodes the expert's video, frames still arriving.
  const seen = await decodesMore(tech.page, 'the expert camera on the technician page');
  assert.equal(seen.state, 'connected');

  for (const [who, page] of [['expert', expert.page], ['technician', tech.page]]) {
    const s = await until(`${who}: a selected candidate pair`, async () => {
      const x = await mediaStats(page);
      return x?.local ? x : null;
    });
    assert.equal(s.config.iceTransportPolicy, 'relay', `${who}: ${JSON.stringify(s.config)}`);
    const turnServer = s.config.iceServers.find((x) => x.urls.some((u) => u.startsWith('turn:')));
    assert.match(turnServer?.username ?? '', /^\d+:[0-9a-f-]{36}$/, `${who}: EXPIRY:user-id`);
    assert.equal(s.local, 'relay', `${who} sends through the relay: ${JSON.stringify(s)}`);
    assert.deepEqual(s.localTypes, ['relay'], `${who} gathered relay candidates only`);
  }
  assert.match(turn.log(), /allocation|ALLOCATE/i, 'coturn made allocations');
  await screenshot(tech.page, 'media-relay-technician');

  await expert.context.close();
  await tech.context.close();
});
