// Shared harness for the browser end-to-end tests: starts the real `jiliang`
// server on a random port with a temporary SQLite database, and a headless
// Debian Chromium driven by playwright-core (no browser download, ever).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
export const artifacts = resolve(repo, 'tests', 'artifacts');

const bin = process.env.JILIANG_BIN ?? join(repo, 'target', 'debug', 'jiliang');
const dist = process.env.JILIANG_STATIC_DIR ?? join(repo, 'dist');

/** Start a server; resolves with { url, stop(), halt(), resume(), dir, run(args), pid() }:
 *  `halt` stops the process (clients see it go away), `resume` starts it again
 *  on the same address and database. `serveArgs` (or `args`): more
 *  `jiliang serve` flags; `env`: more environment (secrets); `database`:
 *  another database than a new SQLite file (a node of a cluster). */
export async function startServer({ seed = true, demoLab = false, database, serveArgs = [], args = [], env: extraEnv = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jiliang-e2e-'));
  const databaseUrl = database ?? `sqlite://${join(dir, 'jiliang.db')}`;
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...extraEnv };
  // The embedded default, whatever the CI environment names for the service tests.
  delete env.DATABASE_URL;
  delete env.JILIANG_BUS;
  const run = (args) => new Promise((ok, fail) => {
    const p = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`jiliang ${args.join(' ')} exited ${code}: ${out}`))));
  });
  // `demoLab`: also the demo lab (devices, an ended session with a finished
  // comparison), as `jiliang seed-demo --demo-lab` gives a newcomer.
  if (seed) {
    await run(['seed-demo', '--database-url', databaseUrl,
      ...(demoLab ? ['--demo-lab', join(dir, 'demo-lab')] : [])]);
  }
  let log = '';
  const serve = (listen) => {
    const child = spawn(bin, ['serve', '--listen', listen, '--database-url', databaseUrl, '--static-dir', dist, ...serveArgs, ...args],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (d) => { log += d; });
    const started = new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`server did not start:\n${log}`)), 30_000);
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const m = buf.match(/http:\/\/[\d.]+:\d+\//);
        if (m) { clearTimeout(timer); ok(m[0].replace(/\/$/, '')); }
      });
      child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`server exited ${code}:\n${log}`)); });
    });
    return { child, started };
  };
  let current = serve('127.0.0.1:0');
  const url = await current.started;
  const halt = async () => {
    const { child } = current;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((ok) => child.on('exit', ok));
      child.kill('SIGTERM');
      await exited;
    }
  };
  /** Start the server again on the same address and database (after `halt`). */
  const resume = async () => {
    current = serve(url.replace(/^http:\/\//, ''));
    await current.started;
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  // `pid`: the running server process, for tests that read its /proc.
  return { url, stop, halt, resume, dir, databaseUrl, run, log: () => log, pid: () => current.child.pid };
}

export const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** Launch Chromium with a fresh profile; pass { media: true } for fake devices. */
export async function launchBrowser({ media = false } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'jiliang-chromium-'));
  const args = [...chromiumArgs];
  if (media) args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args,
    viewport: { width: 1280, height: 800 },
  });
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

/** A browser for tests where several people act at once: every
 *  `newContext()` is a fresh, separate profile (cookies, storage, network
 *  conditions), as two people on two machines. */
export async function launchBrowserForPeople({ media = false } = {}) {
  const args = [...chromiumArgs];
  if (media) args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args,
  });
  const newContext = (options = {}) => browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale: 'zh-CN',
    ...options,
  });
  return { browser, newContext, close: () => browser.close() };
}

/** Chromium logs every 4xx answer as a console error ("Failed to load
 *  resource: … 401"). For the JSON API these are part of the protocol —
 *  `GET /auth/me` answers 401 when nobody is logged in, a lab page 403 —
 *  and the app shows them to the person; they are not failures. A 4xx for
 *  anything else (a missing asset) and every 5xx still fail the test. */
export function expectedApiRefusal(m) {
  let path = '';
  try { path = new URL(m.location().url).pathname; } catch { return false; }
  return path.startsWith('/api/')
    && /Failed to load resource: the server responded with a status of 4\d\d/.test(m.text());
}

/** While a test stops the server or the network on purpose, the browser
 *  reports each refused connection (socket or fetch, also one the service
 *  worker could not answer from its cache) as a console error; those are
 *  the point of such a test, not failures. */
function unreachableServer(m) {
  return /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INTERNET_DISCONNECTED|ERR_FAILED|The FetchEvent for .* resulted in a network error/.test(m.text());
}

/** A new page that fails the test on any uncaught page error (a wasm
 *  start-up failure shows only there) and on console errors. */
export async function openPage(context, t, { serverMayBeDown = false } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || expectedApiRefusal(m)) return;
    if (serverMayBeDown && unreachableServer(m)) return;
    errors.push(`console: ${m.text()}`);
  });
  t.after(() => {
    if (errors.length) throw new Error(`browser reported errors:\n${errors.join('\n')}`);
  });
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Password of every demo account (`jiliang seed-demo`). */
export const DEMO_PASSWORD = 'Jiliang-demo-2026';

/**
 * A logged-in API client (no browser), for setting up and checking: `get`
 * and `post` answer the parsed JSON (null for 204) and fail the test on any
 * error status.
 */
export async function apiLogin(baseUrl, username, password = DEMO_PASSWORD) {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: username, password }),
  });
  assert.equal(res.status, 200, `API login as ${username}`);
  const cookie = res.headers.get('set-cookie').split(';')[0];
  const { csrf_token: csrf } = await res.json();
  const call = async (method, path, body) => {
    const r = await fetch(baseUrl + path, {
      method,
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(r.ok, `${method} ${path} answered ${r.status}: ${await r.clone().text()}`);
    return r.status === 204 ? null : r.json();
  };
  return { get: (p) => call('GET', p), post: (p, b) => call('POST', p, b) };
}
