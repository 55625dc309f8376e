// Comparison rounds in the browser: the expert creates an open (not blind)
// round and invites three labs; two technicians submit through the form
// (one first tries a negative U and is told which field is wrong), the
// third too; the expert closes, excludes one lab with a
// reason and publishes with names; a technician sees the report with the
// other labs anonymised (codes) after the close and named after
// publication, with the report's number, PDF and public verification
// page; the charts are drawn; the round pages at 360 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowserForPeople, openPage, screenshot, apiLogin, DEMO_PASSWORD,
} from './harness.mjs';

const TITLE = '10 V 直流电压比对（端到端）';
let server;
let browser;
let labs; // institution name (zh) -> id

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople();
  const list = await (await apiLogin(server.url, 'expert')).get('/api/v1/institutions');
  labs = Object.fromEntries(list.map((i) => [i.name_zh, i.id]));
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

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

async function submitResult(page, url, value, u) {
  await page.goto(url);
  const form = page.getByTestId('round-submit');
  await form.getByTestId('result-value').fill(value);
  await form.getByTestId('result-u').fill(u);
  await form.getByTestId('result-k').fill('2');
  await form.getByTestId('result-notes').fill('3458A，10 次平均');
  await form.getByTestId('result-submit').click();
  await form.getByTestId('result-saved').waitFor();
}

test('a round from creation to a published report, anonymised then named for a lab', async (t) => {
  const { page: expert } = await person(t, 'expert');
  await expert.getByRole('link', { name: '比对' }).first().click();
  await expert.getByTestId('rounds-page').waitFor();
  await expert.getByTestId('round-new').click();
  const form = expert.getByTestId('round-form');
  await form.getByTestId('round-title').fill(TITLE);
  await form.getByTestId('round-quantity').fill('直流电压');
  await form.getByTestId('round-unit').fill('V');
  await form.getByTestId('round-method').selectOption('weighted-mean');
  await form.getByTestId('round-sigma').fill('0.00005');
  await form.getByTestId('round-blind').uncheck();
  await form.getByTestId('round-create').click();
  await expert.getByTestId('round-page').waitFor();
  const url = expert.url();
  assert.match(url, /\/rounds\/[0-9a-f-]{36}$/);
  const id = url.split('/').pop();

  for (const name of ['秦安县计量检定所', '通渭县计量检定所', '甘谷县计量检定所']) {
    await expert.locator(`[data-testid="invite-check"][data-name="${name}"] input`).check();
  }
  await expert.getByTestId('round-invite-submit').click();
  await expert.locator('[data-testid="round-lab"][data-code="L03"]').waitFor();

  // Two technicians submit through the form; a negative U is refused by field.
  const { page: tech } = await person(t, 'tech');
  await tech.goto(`${server.url}/rounds/${id}`);
  const f = tech.getByTestId('round-submit');
  await f.getByTestId('result-value').fill('10.000031');
  await f.getByTestId('result-u').fill('-0.00002');
  await f.getByTestId('result-submit').click();
  await f.getByText('必须大于 0').first().waitFor();
  await submitResult(tech, `${server.url}/rounds/${id}`, '10.000031', '0.00002');
  assert.equal(await tech.getByTestId('round-report-hidden').count(), 1, 'no report while open');
  const { page: tongwei } = await person(t, 'tongwei.tech');
  await submitResult(tongwei, `${server.url}/rounds/${id}`, '10.000012', '0.00003');
  const { page: gangu } = await person(t, 'gangu.tech');
  await submitResult(gangu, `${server.url}/rounds/${id}`, '10.00021', '0.000025');

  // Close, exclude 甘谷 with a reason, publish.
  await expert.reload();
  await expert.getByTestId('round-close').click();
  await expert.getByTestId('round-confirm').click();
  await expert.locator('[data-testid="round-state"][data-state="closed"]').waitFor();
  const l3 = expert.locator('[data-testid="round-lab"][data-code="L03"]');
  await l3.getByTestId('round-exclude-reason').fill('传递标准运输中受震');
  await l3.getByTestId('round-exclude').click();
  await l3.getByTestId('round-excluded').waitFor();
  await expert.reload();
  await expert.getByTestId('round-report').waitFor();
  await expert.getByTestId('chart-values').locator('svg').waitFor();
  await expert.getByTestId('chart-en').locator('svg').waitFor();
  await expert.getByTestId('chart-z').locator('svg').waitFor();
  const rows = expert.getByTestId('round-row');
  assert.equal(await rows.count(), 3);
  assert.equal(await rows.nth(0).getAttribute('data-lab'), '秦安县计量检定所 (L01)');

  // The technician: the report with the others anonymised.
  await tech.reload();
  await tech.getByTestId('round-report').waitFor();
  const theirs = tech.getByTestId('round-row');
  assert.deepEqual(
    [await theirs.nth(0).getAttribute('data-lab'), await theirs.nth(1).getAttribute('data-lab'),
      await theirs.nth(2).getAttribute('data-lab')],
    ['秦安县计量检定所 (L01)', 'L02', 'L03'],
  );

  await expert.getByTestId('round-publish').click();
  await expert.getByTestId('round-confirm').click();
  await expert.getByTestId('round-published').waitFor();

  await tech.reload();
  await tech.getByTestId('round-report').waitFor();
  assert.equal(await tech.getByTestId('round-row').nth(1).getAttribute('data-lab'), '通渭县计量检定所 (L02)');
  await screenshot(tech, 'round-report');

  // Publishing numbered the report: the lab downloads its PDF, and the
  // public verification page knows the number (proven by the log).
  const doc = tech.getByTestId('round-report-doc');
  await doc.waitFor();
  const number = await doc.getAttribute('data-number');
  assert.match(number, /^JL-\d{4}-\d{6}$/);
  const pdfHref = await doc.getByTestId('round-report-pdf').getAttribute('href');
  const pdf = await tech.evaluate(async (href) => {
    const r = await fetch(href);
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, head: String.fromCharCode(...b.slice(0, 5)) };
  }, pdfHref);
  assert.deepEqual(pdf, { status: 200, head: '%PDF-' });
  await doc.getByTestId('round-report-verify').click();
  await tech.locator('[data-testid=cert-verdict][data-status=valid]').waitFor();
  assert.equal((await tech.getByTestId('cert-number').textContent()).trim(), number);
  await tech.locator('[data-testid=cert-ledger-status][data-status=valid]').waitFor();

  // At 360 px the report scrolls inside its box, never the page.
  const { page: phone } = await person(t, 'tech', { viewport: { width: 360, height: 740 } });
  await phone.goto(`${server.url}/rounds/${id}`);
  await phone.getByTestId('round-report').waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page wider than the screen by ${overflow} px`);
  await screenshot(phone, 'round-report-360');
});
