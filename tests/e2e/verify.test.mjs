// Record verification in the browser: a session's ledger export downloaded
// from the ended room and checked on /verify by the wasm-compiled ledger
// crate; a tampered export, a file that is not an export, a bundle re-signed
// with another key; one record's proof followed from the room; access to
// it; the 360 px layout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowserForPeople, openPage, screenshot, apiLogin } from './harness.mjs';

const PASSWORD = 'Jiliang-demo-2026';
const QINAN = '秦安县计量检定所';
const TITLE = '砝码比对（可核验记录）';

let server;
let browser;
let labs; // institution name (zh) -> id
let files; // a folder for the exports the tests write
// Filled by the first test: the ended session and its downloaded export.
let sessionId;
let exportPath;
let exportJson;

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople();
  files = mkdtempSync(join(tmpdir(), 'jiliang-verify-'));
  const list = await (await apiSession('expert')).get('/api/v1/institutions');
  labs = Object.fromEntries(list.map((i) => [i.name_zh, i.id]));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (files) rmSync(files, { recursive: true, force: true });
});

/** A logged-in API client (no browser), for setting up and checking. */
const apiSession = (username) => apiLogin(server.url, username);

/** A live session hosted by `host` with the Qin'an lab, made over the API. */
async function liveSession(host, title) {
  const api = await apiSession(host);
  const s = await api.post('/api/v1/sessions', {
    title,
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [labs[QINAN]],
  });
  await api.post(`/api/v1/sessions/${s.id}/start`);
  return s.id;
}

/** A person in their own browser profile, logged in through the login page. */
async function person(t, username, options = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close());
  const page = await openPage(context, t);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

/** Someone not logged in. */
async function visitor(t, options = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close());
  return { context, page: await openPage(context, t) };
}

async function enterRoom(page, id) {
  await page.goto(`${server.url}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
}

async function say(page, text) {
  const box = page.getByTestId('chat-input');
  await box.fill(text);
  await box.press('Enter');
}

async function waitForChat(page, text) {
  await page.locator('[data-testid=chat-message]:not([data-pending])', { hasText: text }).waitFor();
}

async function noHorizontalScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the screen`);
}

/** Open `path` on /verify with the file picker and wait for the verdict. */
async function openExport(page, path) {
  await page.goto(`${server.url}/verify`);
  await page.getByTestId('verify-page').waitFor();
  await page.getByTestId('verify-file').setInputFiles(path);
  await page.getByTestId('verify-result').waitFor();
  // The server's current log is checked against the file's head last.
  await page.locator('[data-testid=log-check] [data-state]').waitFor();
}

/** The short key fingerprint as the page shows it (`3f2a:91c0:77de:0b15`). */
function shortFingerprint(full) {
  return full.slice(0, 16).match(/.{4}/g).join(':');
}

function writeExport(name, json) {
  const path = join(files, name);
  writeFileSync(path, typeof json === 'string' ? json : JSON.stringify(json, null, 2));
  return path;
}

test('an ended session exports a verifiable record; /verify checks it in the browser against this server\'s key', async (t) => {
  sessionId = await liveSession('expert', TITLE);
  const E = (await person(t, 'expert')).page;
  const T = (await person(t, 'tech')).page;
  await enterRoom(E, sessionId);
  await enterRoom(T, sessionId);
  await say(E, '今天比对 F1 级 100 g 砝码，请报读数。');
  await waitForChat(T, '今天比对 F1 级 100 g 砝码');
  await say(T, '第 1 次读数 100.000 12 g。');
  await waitForChat(E, '第 1 次读数');
  await say(E, '收到，示值误差 +0.12 mg，合格。');
  await waitForChat(T, '示值误差 +0.12 mg');

  // Each stored line already links to its proof.
  assert.ok(await E.getByTestId('verify-link').count() >= 3, 'every stored event has a verify link');
  assert.equal(await E.getByTestId('verify-link').first().getAttribute('target'), '_blank',
    'from the live room the proof opens in a new tab');

  await E.getByTestId('end-session').click();
  await E.getByTestId('confirm-end').click();
  await E.getByTestId('ended-notice').waitFor();
  await E.getByTestId('export-actions').waitFor();

  // Download: the file is the server's export, saved as it came.
  const [download] = await Promise.all([
    E.waitForEvent('download'),
    E.getByTestId('download-export').click(),
  ]);
  assert.equal(download.suggestedFilename(), `jiliang-session-${sessionId}.json`);
  exportPath = join(files, download.suggestedFilename());
  await download.saveAs(exportPath);
  exportJson = JSON.parse(readFileSync(exportPath, 'utf8'));
  assert.equal(exportJson.format, 'jiliang-ledger-export/1');
  const n = exportJson.records.length;
  // start, two joins, three lines, end (leaves may add more)
  assert.ok(n >= 6, `the export holds the session's events (${n})`);
  const events = exportJson.records.map((r) => JSON.parse(r.payload));
  assert.ok(events.every((e) => e.session === sessionId), 'only this session\'s events');
  assert.deepEqual(events.map((e) => e.seq), [...Array(n).keys()].map((i) => i + 1), 'the whole timeline, in order');

  // Anyone can verify the file, logged in or not.
  const { page: V } = await visitor(t);
  await openExport(V, exportPath);
  const result = V.getByTestId('verify-result');
  assert.equal(await result.getAttribute('data-ok'), 'true');
  assert.equal(await result.getAttribute('data-mode'), 'server-key', 'pinned to the key this server publishes');
  assert.equal(await V.getByTestId('verify-headline').innerText(), `全部 ${n} 条记录已核验`);
  assert.equal(await V.getByTestId('verify-record').count(), n);
  assert.equal(await V.locator('[data-testid=verify-record][data-status=verified]').count(), n);
  assert.match(await V.getByTestId('verify-records').innerText(), /今天比对 F1 级 100 g 砝码/);

  // The key is the one the server publishes, and the log still extends the head.
  const head = await (await fetch(`${server.url}/api/v1/ledger/head`)).json();
  assert.equal(await V.getByTestId('key-fingerprint').innerText(), shortFingerprint(head.key_fingerprint));
  assert.equal(await V.locator('[data-testid=key-match]').getAttribute('data-state'), 'matches');
  assert.match(await V.getByTestId('key-match').innerText(), /与本服务器公布的密钥一致/);
  assert.equal(await V.locator('[data-testid=log-check] [data-state]').getAttribute('data-state'), 'extends');
  assert.equal(await V.getByTestId('tree-size').innerText(), `${exportJson.tree_head.size} 条记录`);
  assert.equal(await V.getByTestId('root-hash').getAttribute('data-value'), exportJson.tree_head.root_hash);
  assert.match(await V.getByTestId('signed-utc').innerText(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(await V.getByTestId('verify-source').innerText(), new RegExp(`jiliang-session-${sessionId}\\.json`));

  // "Verify in browser" on the ended page does the same without a file.
  await E.getByTestId('verify-export').click();
  await E.waitForURL(/\/verify$/);
  await E.getByTestId('verify-result').waitFor();
  assert.equal(await E.getByTestId('verify-result').getAttribute('data-ok'), 'true');
  assert.match(await E.getByTestId('verify-source').innerText(), new RegExp(TITLE));
  assert.equal(await E.getByTestId('verify-record').count(), n);

  // Pasting the text works too (phones where a file picker is awkward).
  await V.goto(`${server.url}/verify`);
  await V.locator('.verify-paste summary').click();
  await V.getByTestId('verify-paste').fill(readFileSync(exportPath, 'utf8'));
  await V.getByTestId('verify-paste-submit').click();
  await V.locator('[data-testid=verify-result][data-ok=true]').waitFor();
  assert.match(await V.getByTestId('verify-source').innerText(), /粘贴的内容/);
});

test('a changed character is found and named; a file that is not an export says so plainly', async (t) => {
  assert.ok(exportJson, 'needs the export of the first test');
  // Change one character of one chat line's payload.
  const tampered = structuredClone(exportJson);
  const pos = tampered.records.findIndex((r) => r.payload.includes('100.000 12 g'));
  assert.ok(pos >= 0);
  const rec = tampered.records[pos];
  rec.payload = rec.payload.replace('100.000 12 g', '100.000 13 g');
  const tamperedPath = writeExport('tampered.json', tampered);

  const { page: V } = await visitor(t);
  await openExport(V, tamperedPath);
  const result = V.getByTestId('verify-result');
  assert.equal(await result.getAttribute('data-ok'), 'false');
  assert.match(await V.getByTestId('verify-headline').innerText(), /^发现 \d+ 个问题$/);
  assert.equal(await V.locator('.verify-banner .verify-mark').innerText(), '✗');
  assert.match(await V.getByTestId('failing-records').innerText(),
    new RegExp(`第 ${pos + 1} 条记录（索引 ${rec.index}）`));
  const bad = V.locator(`[data-testid=verify-record][data-index="${rec.index}"]`);
  assert.equal(await bad.getAttribute('data-ok'), 'false');
  await bad.locator('[data-code=leaf_hash_mismatch]').waitFor();
  assert.match(await bad.getByTestId('record-failures').innerText(), /内容被改动/);
  assert.equal(await V.locator('[data-testid=verify-record][data-ok=false]').count(), 1, 'only that record fails');
  assert.equal(await V.getByTestId('general-problems').count(), 0, 'head and export signature still hold');
  // The banner's link takes the reader to the record.
  await V.getByTestId('failing-records').locator('button').first().click();
  await bad.and(V.locator(':focus')).waitFor();

  // Removing a record breaks the export signature (a problem of the whole file).
  const shortened = structuredClone(exportJson);
  shortened.records.splice(1, 1);
  await openExport(V, writeExport('shortened.json', shortened));
  assert.equal(await V.getByTestId('verify-result').getAttribute('data-ok'), 'false');
  assert.match(await V.getByTestId('general-problems').innerText(), /导出签名.*签名无效/);
  await V.locator('[data-testid=general-problems] [data-code=bad_signature]').waitFor();
  assert.equal(await V.locator('[data-testid=verify-record][data-status=unconfirmed]').count(), shortened.records.length);

  // Not JSON at all.
  await V.goto(`${server.url}/verify`);
  await V.getByTestId('verify-file').setInputFiles({
    name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('砝码比对记录：合格\n'),
  });
  await V.getByTestId('verify-error').waitFor();
  assert.match(await V.getByTestId('verify-error').innerText(), /这不是计量协作网的导出文件。[\s\S]*不是有效的 JSON/);
  assert.equal(await V.getByTestId('verify-result').count(), 0);
  // JSON, but not an export.
  await V.getByTestId('verify-file').setInputFiles({
    name: 'other.json', mimeType: 'application/json', buffer: Buffer.from('{"hello": "world"}'),
  });
  await V.getByTestId('verify-error').filter({ hasText: '缺少导出文件应有的字段' }).waitFor();
  // An empty paste.
  await V.locator('.verify-paste summary').click();
  await V.getByTestId('verify-paste-submit').click();
  await V.getByTestId('verify-error').filter({ hasText: '请先粘贴' }).waitFor();
});

test('a bundle re-signed with another key fails against this server\'s key and is only self-consistent with its own', async (t) => {
  assert.ok(exportJson, 'needs the export of the first test');
  // A forger re-signs the head and the export manifest with a key of their own.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const forged = structuredClone(exportJson);
  const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
  const head = forged.tree_head;
  const sth = Buffer.concat([Buffer.from('jiliang-sth-v1\n'), u64(head.size), u64(head.timestamp_ms),
    Buffer.from(head.root_hash, 'hex')]);
  const digest = createHash('sha256');
  for (const r of forged.records) { digest.update(u64(r.index)); digest.update(Buffer.from(r.leaf_hash, 'hex')); }
  const manifest = Buffer.concat([Buffer.from('jiliang-export-v1\n'), sth, Buffer.from([0x02]),
    u64(forged.records.length), digest.digest()]);
  forged.public_key = pub.toString('hex');
  head.signature = sign(null, sth, privateKey).toString('hex');
  forged.export_signature = sign(null, manifest, privateKey).toString('hex');

  const { page: V } = await visitor(t);
  await openExport(V, writeExport('forged.json', forged));
  const result = V.getByTestId('verify-result');
  assert.equal(await result.getAttribute('data-ok'), 'false');
  assert.equal(await result.getAttribute('data-mode'), 'server-key');
  assert.equal(await V.locator('[data-testid=key-match]').getAttribute('data-state'), 'differs');
  assert.match(await V.getByTestId('key-notice').innerText(), /此文件由另一把密钥/);
  await V.locator('[data-testid=general-problems] [data-code=untrusted_key]').waitFor();
  assert.equal(await V.locator('[data-testid=log-check] [data-state]').getAttribute('data-state'), 'not-applicable');
  // The records themselves are intact, but nothing vouches for them.
  assert.equal(await V.locator('[data-testid=verify-record][data-status=unconfirmed]').count(), forged.records.length);
  assert.match(await V.getByTestId('verify-banner').innerText(), /无法确认其中任何一条记录/);
  await screenshot(V, 'verify-other-key-desktop');
  // Its own key: self-consistent, with the caveat.
  await V.getByTestId('use-file-key').click();
  await V.locator('[data-testid=verify-result][data-mode=file-key][data-ok=true]').waitFor();
  assert.equal(await V.locator('[data-testid=verify-record][data-status=verified]').count(), forged.records.length);
  assert.match(await V.getByTestId('key-notice').innerText(), /只能说明文件自身前后一致/);
  await V.getByTestId('use-server-key').click();
  await V.locator('[data-testid=verify-result][data-mode=server-key][data-ok=false]').waitFor();
});

test('a record link from the room verifies that one record; another county\'s technician gets the 403 page', async (t) => {
  assert.ok(sessionId, 'needs the session of the first test');
  const T = (await person(t, 'tech')).page;
  await T.goto(`${server.url}/sessions/${sessionId}`);
  await T.getByTestId('ended-notice').waitFor();
  const line = T.locator('[data-testid=chat-message]', { hasText: '第 1 次读数' });
  await line.getByTestId('verify-link').click();
  await T.waitForURL(/\/verify\/room_event\/[0-9a-f-]{36}$/);
  const eventId = T.url().split('/').pop();
  await T.getByTestId('verify-result').waitFor();
  assert.equal(await T.getByTestId('verify-result').getAttribute('data-ok'), 'true');
  assert.equal(await T.getByTestId('verify-headline').innerText(), '该记录已核验');
  assert.equal(await T.getByTestId('verify-record').count(), 1);
  assert.match(await T.getByTestId('record-text').innerText(), /第 1 次读数 100\.000 12 g/);
  assert.equal(await T.locator('[data-testid=key-match]').getAttribute('data-state'), 'matches');
  await T.locator('[data-testid=log-check] [data-state=extends]').waitFor();
  await screenshot(T, 'verify-record-desktop');
  // The one-record export can be saved too.
  const [download] = await Promise.all([
    T.waitForEvent('download'),
    T.getByTestId('download-this').click(),
  ]);
  assert.equal(download.suggestedFilename(), `jiliang-room_event-${eventId}.json`);
  // The same in English.
  await T.getByTestId('lang-switch').click();
  await T.getByTestId('verify-headline').filter({ hasText: 'The record is verified' }).waitFor();
  assert.match(await T.getByTestId('key-match').innerText(), /Matches the key this server publishes/);
  await T.getByTestId('lang-switch').click();

  // A system line links to its record as well.
  await T.goBack();
  await T.getByTestId('ended-notice').waitFor();
  await T.getByTestId('system-line').last().getByTestId('verify-link').click();
  await T.locator('[data-testid=verify-result][data-ok=true]').waitFor();

  // Another county's technician: no access.
  const O = (await person(t, 'tongwei.tech')).page;
  await O.goto(`${server.url}/verify/room_event/${eventId}`);
  await O.getByTestId('forbidden').waitFor();
  assert.equal(await O.getByTestId('verify-result').count(), 0);
  // An unknown record: not found.
  await O.goto(`${server.url}/verify/room_event/00000000-0000-0000-0000-000000000000`);
  await O.getByTestId('not-found').waitFor();
  // Not logged in: the login page, and back here afterwards.
  const { page: V } = await visitor(t);
  await V.goto(`${server.url}/verify/room_event/${eventId}`);
  await V.waitForURL(/\/login\?next=/);
  await V.getByTestId('login-name').fill('tech');
  await V.getByTestId('login-password').fill(PASSWORD);
  await V.getByTestId('login-password').press('Enter');
  await V.waitForURL(new RegExp(`/verify/room_event/${eventId}$`));
  await V.locator('[data-testid=verify-result][data-ok=true]').waitFor();
});

test('the verification page fits a 360 px phone; screenshots of a verified and a tampered export', async (t) => {
  assert.ok(exportJson, 'needs the export of the first test');
  const tampered = structuredClone(exportJson);
  const pos = tampered.records.findIndex((r) => r.payload.includes('示值误差 +0.12 mg'));
  tampered.records[pos].payload = tampered.records[pos].payload.replace('+0.12 mg', '+0.02 mg');
  const tamperedPath = writeExport('tampered-phone.json', tampered);

  const { page: V } = await visitor(t);
  await V.goto(`${server.url}/verify`);
  await V.getByTestId('verify-page').waitFor();
  await screenshot(V, 'verify-empty-desktop');
  await openExport(V, exportPath);
  await screenshot(V, 'verify-ok-desktop');
  await openExport(V, tamperedPath);
  await screenshot(V, 'verify-tampered-desktop');

  await V.setViewportSize({ width: 360, height: 740 });
  await V.goto(`${server.url}/verify`);
  await V.getByTestId('verify-page').waitFor();
  await noHorizontalScroll(V, 'the empty verification page');
  await screenshot(V, 'verify-empty-360');
  await openExport(V, exportPath);
  await noHorizontalScroll(V, 'a verified export');
  await V.evaluate(() => window.scrollTo(0, 0));
  await screenshot(V, 'verify-ok-360');
  await openExport(V, tamperedPath);
  await noHorizontalScroll(V, 'a tampered export');
  // The raw content of a record opens without widening the page.
  await V.locator('[data-testid=verify-record][data-ok=false] .raw summary').click();
  await noHorizontalScroll(V, 'a record\'s raw content');
  await V.evaluate(() => window.scrollTo(0, 0));
  await screenshot(V, 'verify-tampered-360');
  // Only the failing records.
  await V.getByTestId('only-problems').check();
  assert.equal(await V.getByTestId('verify-record').count(), 1);
  // English on the phone.
  await V.getByTestId('lang-switch').click();
  await V.getByTestId('verify-headline').filter({ hasText: /problems? found/ }).waitFor();
  await noHorizontalScroll(V, 'a tampered export in English');
  await screenshot(V, 'verify-tampered-360-en');

  // The ended room on a phone: the export buttons and the verify links fit.
  const T = (await person(t, 'tech', { viewport: { width: 360, height: 740 } })).page;
  await T.goto(`${server.url}/sessions/${sessionId}`);
  await T.getByTestId('export-actions').waitFor();
  await T.getByTestId('chat-log').waitFor();
  await noHorizontalScroll(T, 'the ended room with export actions');
  await screenshot(T, 'verify-room-ended-360');
});
