// Instruments in the browser: a technician registers the lab's instruments
// and sees each agent token once; the expert attaches them to a live
// session; the real `jiliang-sim` and `jiliang-agent` binaries stream
// readings and the live chart moves on the expert's and the technician's
// pages; a simulator in fault mode shows as a device fault; a reading typed
// in by hand reaches the room; the expert runs a comparison through two
// points to a verdict that the technician sees too, and its record's proof
// verifies (the technician following in English over a 300 kbit/s link);
// the room's instruments at 360 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startServer, launchBrowserForPeople, openPage, screenshot, apiLogin, repo, DEMO_PASSWORD,
} from './harness.mjs';
import { slowRoomSockets } from './impair.mjs';

const QINAN = '秦安县计量检定所';
const agentBin = process.env.JILIANG_AGENT_BIN ?? join(repo, 'target', 'debug', 'jiliang-agent');
const simBin = process.env.JILIANG_SIM_BIN ?? join(repo, 'target', 'debug', 'jiliang-sim');

let server;
let browser;
let labs; // institution name (zh) -> id
let streaming; // the session of the first test, its agents still streaming
const children = [];
const dirs = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople();
  const list = await (await apiLogin(server.url, 'expert')).get('/api/v1/institutions');
  labs = Object.fromEntries(list.map((i) => [i.name_zh, i.id]));
});
after(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
  await browser?.close();
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Start a binary; resolves once a line of its stdout matches `ready`. */
function startChild(bin, args, ready) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  children.push(child);
  let out = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${bin} did not start:\n${out}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(ready);
      if (m) { clearTimeout(timer); ok({ child, match: m }); }
    });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`${bin} exited ${code}:\n${out}`)); });
  });
}

/** A SCPI multimeter simulator on a free port; answers its address. */
async function startDmm(extra) {
  const { match } = await startChild(simBin,
    ['scpi', '--listen', '127.0.0.1:0', '--levels', '1,5', '--dwell-s', '30', ...extra],
    /jiliang-sim scpi listening on (\S+)/);
  return match[1];
}

/** An agent reading `addr` every 200 ms for the device of `token`. */
function startAgent(token, addr) {
  const queue = mkdtempSync(join(tmpdir(), 'jiliang-e2e-queue-'));
  dirs.push(queue);
  const child = spawn(agentBin, ['run', '--server', server.url, '--token', token, '--queue', queue,
    '--interval-ms', '200', '--scpi', addr, '--query', 'MEAS:VOLT:DC?'],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  children.push(child);
  return child;
}

/** Set a running simulator's fault mode with `jiliang-sim fault`. */
function setFault(addr, mode) {
  return new Promise((ok, fail) => {
    const p = spawn(simBin, ['fault', '--scpi', addr, mode], { stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`jiliang-sim fault ${mode} exited ${code}`))));
  });
}

/** A person in their own browser profile, logged in through the login page. */
async function person(t, username, options = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close());
  const page = await openPage(context, t);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

/** Register a device through the form; answers { token, command }. */
async function register(page, { name, kind, quantity, unit, resolution, cert }) {
  await page.getByTestId('device-register-open').click();
  const form = page.getByTestId('device-form');
  await form.getByTestId('device-name').fill(name);
  await form.getByTestId('device-kind').fill(kind);
  await form.getByTestId('device-quantity').fill(quantity);
  await form.getByTestId('device-unit').fill(unit);
  if (resolution) await form.getByTestId('device-resolution').fill(resolution);
  if (cert) {
    await form.getByTestId('device-is-reference').check();
    await form.getByTestId('cert-no').fill(cert.no);
    await form.getByTestId('cert-u').fill(cert.u);
    await form.getByTestId('cert-k').fill(cert.k);
    await form.getByTestId('cert-valid-until').fill(cert.until);
  }
  await form.getByTestId('device-submit').click();
  const box = page.getByTestId('token-box');
  await box.waitFor();
  const token = await box.getByTestId('device-token').inputValue();
  const command = await box.getByTestId('agent-command').inputValue();
  await box.getByTestId('token-done').click();
  await box.waitFor({ state: 'detached' });
  await page.locator(`[data-testid=device-card][data-name="${name}"]`).waitFor();
  return { token, command };
}

/** A live session hosted by the expert with the Qin'an lab, over the API. */
async function liveSession(title) {
  const api = await apiLogin(server.url, 'expert');
  const s = await api.post('/api/v1/sessions', {
    title,
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [labs[QINAN]],
  });
  await api.post(`/api/v1/sessions/${s.id}/start`);
  return s.id;
}

const instrument = (page, name) => page.locator(`[data-testid=instrument][data-name="${name}"]`);

async function chartPoints(page) {
  return Number(await page.getByTestId('live-chart').getAttribute('data-points'));
}

async function attach(page, name) {
  const select = page.getByTestId('attach-select');
  const value = await select.locator('option', { hasText: name }).getAttribute('value');
  await select.selectOption(value);
  await page.getByTestId('attach-submit').click();
  await instrument(page, name).waitFor();
}

test('a lab registers its instruments, streams them into a live session, and a broken one shows as a device fault', async (t) => {
  const tech = await person(t, 'tech');
  const T = tech.page;

  // The technician's dashboard leads to the lab's instruments.
  await T.getByTestId('my-devices-link').click();
  await T.getByTestId('devices-page').waitFor();

  const uut = await register(T, {
    name: '数字多用表 DMM-01', kind: '数字多用表', quantity: '直流电压', unit: 'V', resolution: '0.0001',
  });
  assert.match(uut.token, /\S{16,}/, 'a token is shown');
  assert.ok(uut.command.startsWith(`jiliang-agent run --server ${server.url} --token ${uut.token} --queue `),
    `the command line to paste: ${uut.command}`);
  const ref = await register(T, {
    name: '标准多用表 REF-8508', kind: '标准数字多用表', quantity: '直流电压', unit: 'V', resolution: '0.00001',
    cert: { no: 'DLzj2026-0815', u: '0.00004', k: '2', until: '2027-06-30' },
  });
  await register(T, { name: '指针式压力表 P-3', kind: '压力表', quantity: '压力', unit: 'kPa', resolution: '0.5' });

  // Shown once: after a reload no token is anywhere on the page.
  await T.reload();
  await T.locator('[data-testid=device-card]').nth(2).waitFor();
  const html = await T.content();
  assert.ok(!html.includes(uut.token) && !html.includes(ref.token), 'the tokens are not shown again');
  assert.equal(await T.getByTestId('token-box').count(), 0);
  assert.match(await T.locator('[data-testid=device-card][data-name="标准多用表 REF-8508"]').innerText(), /DLzj2026-0815/);
  // Technicians do not handle tokens (administrators do).
  assert.equal(await T.getByTestId('device-revoke').count(), 0);

  // The expert starts a session with the lab and attaches the instruments.
  const id = await liveSession('直流电压表远程比对');
  streaming = id;
  const expert = await person(t, 'expert');
  const E = expert.page;
  await E.goto(`${server.url}/sessions/${id}`);
  await E.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await E.getByTestId('no-instruments').waitFor();
  await attach(E, '数字多用表 DMM-01');
  await attach(E, '标准多用表 REF-8508');
  await attach(E, '指针式压力表 P-3');
  // Before any agent: the devices with agents-to-be wait, the gauge is typed in.
  await instrument(E, '指针式压力表 P-3').locator('[data-testid=agent-state]').filter({ hasText: '手工录入' }).waitFor();

  // The real simulators and agents.
  const uutAddr = await startDmm(['--noise', '0.0002', '--offset', '0.003']);
  const refAddr = await startDmm(['--noise', '0.00002', '--offset', '0']);
  startAgent(uut.token, uutAddr);
  startAgent(ref.token, refAddr);

  for (const name of ['数字多用表 DMM-01', '标准多用表 REF-8508']) {
    await E.locator(`[data-testid=instrument][data-name="${name}"][data-state=connected]`).waitFor({ timeout: 20_000 });
  }
  // The chart moves as readings arrive.
  await E.waitForFunction(() => Number(document.querySelector('[data-testid=live-chart]')?.dataset.points) > 10);
  const d1 = await E.locator('[data-testid=chart-values] path.series.uut').getAttribute('d');
  const p1 = await chartPoints(E);
  await E.waitForFunction((p) => Number(document.querySelector('[data-testid=live-chart]').dataset.points) > p + 10, p1);
  const d2 = await E.locator('[data-testid=chart-values] path.series.uut').getAttribute('d');
  assert.notEqual(d1, d2, 'the UUT line changed');
  // The error E is drawn (UUT − reference, about +0.003 V) with the MPE band.
  await E.getByTestId('chart-mpe').fill('0.01');
  await E.locator('[data-testid=chart-error] path.mpe-band[d$="Z"]').waitFor();
  const e = Number((await E.getByTestId('last-error').innerText()).replace('+', ''));
  assert.ok(Math.abs(e - 0.003) < 0.002, `E ≈ +0.003 V, got ${e}`);
  // The agent's state: queue depth, clock offset ± uncertainty, a ticking age.
  const card = instrument(E, '数字多用表 DMM-01');
  await card.locator('[data-testid=agent-clock]', { hasText: '±' }).waitFor({ timeout: 15_000 });
  assert.match(await card.getByTestId('queue-depth').innerText(), /^\d+$/);
  assert.match(await card.getByTestId('reading-age').innerText(), /^\d+ s$/);

  // The technician's page shows the same live data.
  await T.goto(`${server.url}/sessions/${id}`);
  await T.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await T.locator('[data-testid=instrument][data-name="数字多用表 DMM-01"][data-state=connected]').waitFor();
  await T.waitForFunction(() => Number(document.querySelector('[data-testid=live-chart]')?.dataset.points) > 10);
  assert.equal(await T.getByTestId('attach-form').count(), 0, 'only the host attaches');

  // A reading typed in for the gauge reaches both pages.
  const gauge = instrument(T, '指针式压力表 P-3');
  await gauge.getByTestId('manual-value').fill('101,5');
  await gauge.getByTestId('manual-submit').click();
  await gauge.getByTestId('last-value').filter({ hasText: '101.5' }).waitFor();
  await instrument(E, '指针式压力表 P-3').getByTestId('last-value').filter({ hasText: '101.5' }).waitFor();

  // The UUT simulator starts answering garbage: a device fault, not a network problem.
  await setFault(uutAddr, 'garbage');
  const fault = E.locator('[data-testid=instrument][data-name="数字多用表 DMM-01"] [data-testid=device-fault]');
  await fault.waitFor({ timeout: 20_000 });
  assert.equal(await fault.getAttribute('data-kind'), 'garbage');
  assert.match(await fault.innerText(), /设备故障/);
  await T.locator('[data-testid=instrument][data-name="数字多用表 DMM-01"][data-state=fault]').waitFor({ timeout: 20_000 });
  assert.equal(await E.locator('[data-testid=conn-state]').getAttribute('data-state'), 'live', 'the room stays connected');
  // Repaired: connected again.
  await setFault(uutAddr, 'none');
  await E.locator('[data-testid=instrument][data-name="数字多用表 DMM-01"][data-state=connected]').waitFor({ timeout: 20_000 });

  // The technician's phone at 360 px: the instruments fit the screen.
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'zh-CN', isMobile: true, hasTouch: true });
  t.after(() => phone.close());
  const P = await openPage(phone, t);
  await P.goto(`${server.url}/login`);
  await P.getByTestId('login-name').fill('tech');
  await P.getByTestId('login-password').fill(DEMO_PASSWORD);
  await P.getByTestId('login-password').press('Enter');
  await P.getByTestId('dash-greeting').waitFor();
  await P.goto(`${server.url}/sessions/${id}`);
  await P.locator('[data-testid=instrument][data-name="数字多用表 DMM-01"][data-state=connected]').waitFor();
  await P.waitForFunction(() => Number(document.querySelector('[data-testid=live-chart]')?.dataset.points) > 10);
  const overflow = await P.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the room is ${overflow}px wider than the phone`);
  // Touch targets of the instruments panel are at least 44 px high.
  const small = await P.$$eval('[data-testid=instruments] button, [data-testid=instruments] input, [data-testid=instruments] select',
    (els) => els.filter((el) => el.getBoundingClientRect().height > 0 && el.getBoundingClientRect().height < 44)
      .map((el) => `${el.tagName} ${el.dataset.testid ?? ''} ${el.getBoundingClientRect().height}`));
  assert.deepEqual(small, [], 'touch targets under 44 px');
  await P.getByTestId('instruments').scrollIntoViewIfNeeded();
  await screenshot(P, 'instruments-room-360');
});

test('the expert runs a comparison through its points to a verdict; the technician, in English on a 300 kbit/s link, sees it live; its record verifies', async (t) => {
  assert.ok(streaming, 'needs the streaming session of the first test');
  const id = streaming;
  const { page: E } = await person(t, 'expert');
  const { context: tc, page: T } = await person(t, 'tech');
  // The technician's county link: 300 kbit/s each way and 150 ms for the
  // room socket and for the page's requests; the chart is fed by readings,
  // so it must keep up. The page in English.
  const link = await slowRoomSockets(tc, { kbps: 300, delayMs: 150 });
  const cdp = await tc.newCDPSession(T);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 150, downloadThroughput: 300_000 / 8, uploadThroughput: 300_000 / 8 });
  await T.getByTestId('lang-switch').click();
  await T.locator('html[lang=en]').waitFor();
  for (const page of [E, T]) {
    await page.goto(`${server.url}/sessions/${id}`);
    await page.locator('[data-testid=instrument][data-name="数字多用表 DMM-01"][data-state=connected]').waitFor({ timeout: 20_000 });
  }
  const setup = E.getByTestId('comparison-setup');
  await setup.waitFor();
  await setup.getByTestId('setup-uut').selectOption({ label: '数字多用表 DMM-01 (V)' });
  await setup.getByTestId('setup-ref').selectOption({ label: '标准多用表 REF-8508 (V)' });
  await setup.getByTestId('setup-points').fill('1, 5');
  await setup.getByTestId('setup-per-point').fill('5');
  await setup.getByTestId('setup-mpe-form').selectOption('absolute');
  await setup.getByTestId('setup-mpe-a').fill('0.01');
  await setup.getByTestId('setup-submit').click();
  await E.getByTestId('comparison-summary').waitFor();
  await T.getByTestId('comparison-summary').waitFor();
  assert.equal(await T.getByTestId('point-start').count(), 0, 'only the host runs the points');
  for (const index of [0, 1]) {
    await E.locator(`[data-testid=point-row][data-index="${index}"] [data-testid=point-start]`).click();
    for (const page of [E, T]) {
      const row = page.locator(`[data-testid=point-row][data-index="${index}"][data-status=complete]`);
      await row.waitFor({ timeout: 20_000 });
      assert.equal(await row.getByTestId('verdict').getAttribute('data-verdict'), 'pass',
        `point ${index + 1}: ${await row.innerText()}`);
      assert.match(await row.getByTestId('verdict').innerText(), page === T ? /Pass/ : /合格/);
      const e = Number((await row.getByTestId('point-e').innerText()).replace('+', ''));
      assert.ok(Math.abs(e - 0.003) < 0.002, `E at point ${index + 1} ≈ +0.003 V, got ${e}`);
      assert.match(await row.getByTestId('point-u').innerText(), /^\d/);
    }
  }
  await E.locator('[data-testid=overall-verdict] [data-verdict=pass]').waitFor();
  await T.locator('[data-testid=overall-verdict] [data-verdict=pass]').waitFor();
  // The error plot's scale is the MPE band's, whatever the transients at
  // the level changes (they are drawn at the edge): ±MPE within a scale of
  // at most ±4 MPE is a fifth of the plot or more, not a hairline.
  const bandH = await E.locator('[data-testid=chart-error] path.mpe-band').evaluate((el) => el.getBBox().height);
  const plotH = await E.locator('[data-testid=chart-error] rect.chart-bg').evaluate((el) => el.getBBox().height);
  assert.ok(bandH > plotH * 0.2, `the ±MPE band is ${bandH} of the plot's ${plotH} user units`);
  // The technician's chart kept moving over the slow link, which the room
  // never filled: no frame waited more than a second for the link.
  const uutLine = '[data-testid=chart-values] path.series.uut';
  const d1 = await T.locator(uutLine).getAttribute('d');
  await T.waitForFunction(([sel, d]) => document.querySelector(sel)?.getAttribute('d') !== d, [uutLine, d1]);
  const secs = (Date.now() - link.since) / 1000;
  console.log(`# technician's room socket at 300 kbit/s: ${(link.down * 8 / 1000 / secs).toFixed(1)} kbit/s down, `
    + `${(link.up * 8 / 1000 / secs).toFixed(1)} kbit/s up, ${link.frames} frames in ${secs.toFixed(0)} s, longest wait ${link.maxWaitMs.toFixed(0)} ms`);
  assert.ok(link.maxWaitMs < 1000, `a frame waited ${link.maxWaitMs} ms for the 300 kbit/s link`);
  await screenshot(T, 'instruments-comparison-en-300kbps');
  await E.getByTestId('comparison-finish').click();
  await E.getByTestId('comparison-confirm-finish').click();
  await E.getByTestId('comparison-finished').waitFor();
  await T.getByTestId('comparison-finished').waitFor();
  const csv = await (await E.request.get(server.url + await E.getByTestId('comparison-csv').getAttribute('href'))).text();
  assert.ok(csv.split('\n').filter((l) => l.trim()).length >= 1 + 20, `every reading used is in the CSV:\n${csv.slice(0, 300)}`);
  // The record's proof verifies in the browser.
  const record = await E.getByTestId('comparison-record').getAttribute('href');
  assert.match(record, /^\/verify\/raw_record\/[0-9a-f-]{36}$/);
  await T.goto(server.url + record);
  await T.locator('[data-testid=verify-result][data-ok=true]').waitFor({ timeout: 20_000 });

  await screenshot(E, 'instruments-comparison-1280');
  // The session ends: its read-only record lists the comparison with the
  // same verdict and the link to the raw record.
  await E.getByTestId('end-session').click();
  await E.getByTestId('confirm-end').click();
  await E.getByTestId('ended-notice').waitFor();
  const rec = E.getByTestId('record-comparison');
  await rec.locator('[data-testid=overall-verdict] [data-verdict=pass]').waitFor();
  assert.equal(await rec.getByTestId('point-row').count(), 2);
  assert.equal(await rec.getByTestId('comparison-record').getAttribute('href'), record);
});

test('an administrator replaces and revokes an agent token; the technician sees the device revoked', async (t) => {
  const api = await apiLogin(server.url, 'tech');
  const d = await api.post('/api/v1/devices', {
    lab_id: labs[QINAN], name: '温度计 T-9', kind: '数字温度计', quantity: '温度', unit: 'Cel',
  });
  const admin = await person(t, 'admin');
  const A = admin.page;
  // From the lab's page to its instruments.
  await A.goto(`${server.url}/institutions/${labs[QINAN]}`);
  await A.getByTestId('lab-devices-link').click();
  const card = A.locator('[data-testid=device-card][data-name="温度计 T-9"]');
  await card.waitFor();
  await card.getByTestId('device-rotate').click();
  await card.getByTestId('device-confirm').click();
  const box = A.getByTestId('token-box');
  await box.waitFor();
  const fresh = await box.getByTestId('device-token').inputValue();
  assert.notEqual(fresh, d.token, 'a new token');
  await box.getByTestId('token-done').click();
  await A.locator('[data-testid=device-card][data-name="温度计 T-9"]').getByTestId('device-revoke').click();
  await A.locator('[data-testid=device-card][data-name="温度计 T-9"]').getByTestId('device-confirm').click();
  await A.locator('[data-testid=device-card][data-name="温度计 T-9"][data-revoked=true]').waitFor();
  const after = await api.get(`/api/v1/devices/${d.id}`);
  assert.ok(after.token_revoked_at, 'revoked on the server');
});
