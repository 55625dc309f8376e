// Calibration certificates in the browser: the expert issues one from the
// demo lab's finished comparison (the ended session's record), a visitor
// who is not logged in opens its verification page (the QR code's link) and
// sees "有效 / valid" with the ledger proof checked in the browser; the
// expert revokes it with a reason and the page says "已撤销 / revoked"; a
// forged number is reported unknown; the page fits 360 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowserForPeople, openPage, screenshot, apiLogin } from './harness.mjs';

const PASSWORD = 'Jiliang-demo-2026';
const ENDED = '压力变送器在线比对（已完成）';

let server;
let browser;
let endedId;
let number;

before(async () => {
  server = await startServer({ demoLab: true });
  browser = await launchBrowserForPeople();
  const api = await apiLogin(server.url, 'expert');
  const sessions = await api.get('/api/v1/sessions?limit=500');
  endedId = sessions.find((s) => s.title === ENDED)?.id;
  assert.ok(endedId, 'the demo lab has its ended session');
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
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return page;
}

async function visitor(t, options = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close());
  return openPage(context, t);
}

async function noHorizontalScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the screen`);
}

test('the expert issues a certificate from the finished record; a visitor sees it valid, then revoked', async (t) => {
  const E = await person(t, 'expert');
  await E.goto(`${server.url}/sessions/${endedId}`);
  const panel = E.getByTestId('cert-panel');
  await panel.waitFor();
  await panel.getByTestId('cert-issue').click();
  await panel.getByTestId('cert-issue-confirm').click();
  await panel.getByTestId('cert-issued').waitFor();
  const row = panel.getByTestId('cert-row');
  await row.waitFor();
  number = (await row.getByTestId('cert-row-number').textContent()).trim();
  assert.match(number, /^JL-\d{4}-\d{6}$/);
  assert.equal(await row.getByTestId('cert-status').getAttribute('data-status'), 'valid');
  // Downloads are offered to the signer; the PDF is a PDF.
  const pdfHref = await row.getByTestId('cert-pdf').getAttribute('href');
  const pdf = await E.evaluate(async (href) => {
    const r = await fetch(href);
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, head: String.fromCharCode(...b.slice(0, 5)) };
  }, pdfHref);
  assert.deepEqual(pdf, { status: 200, head: '%PDF-' });
  // The link the QR code carries.
  assert.equal(await row.getByTestId('cert-verify-link').getAttribute('href'), `/verify/${number}`);

  // A visitor, not logged in, on a phone.
  const V = await visitor(t, { viewport: { width: 360, height: 740 } });
  await V.goto(`${server.url}/verify/${number}`);
  const verdict = V.getByTestId('cert-verdict');
  await verdict.waitFor();
  assert.equal(await verdict.getAttribute('data-status'), 'valid');
  assert.match(await verdict.textContent(), /有效|Valid/);
  assert.match(await V.getByTestId('cert-status').textContent(), /有效 \/ valid/);
  assert.equal((await V.getByTestId('cert-number').textContent()).trim(), number);
  assert.match(await V.getByTestId('cert-lab').textContent(), /甘肃省计量研究院/);
  // The ledger record checked in this browser.
  const result = V.getByTestId('verify-result');
  await result.waitFor();
  assert.equal(await result.getAttribute('data-ok'), 'true');
  await V.locator('[data-testid=cert-ledger-status][data-status=valid]').waitFor();
  await noHorizontalScroll(V, 'the verification page');
  await screenshot(V, 'certificate-valid-360');

  // The expert revokes it, saying why.
  await row.getByTestId('cert-revoke').click();
  await row.getByTestId('cert-reason-input').fill('参考标准证书已过期');
  await row.getByTestId('cert-confirm').click();
  await E.locator('[data-testid=cert-row] [data-testid=cert-status][data-status=revoked]').waitFor();

  await V.reload();
  await V.locator('[data-testid=cert-verdict][data-status=revoked]').waitFor();
  assert.match(await V.getByTestId('cert-verdict').textContent(), /已撤销|Revoked/);
  assert.match(await V.getByTestId('cert-status').textContent(), /已撤销 \/ revoked/);
  assert.match(await V.getByTestId('cert-reason').textContent(), /参考标准证书已过期/);
  // The revocation is proven by the log, checked in this browser: the
  // status record verifies with the issue record.
  await V.locator('[data-testid=cert-ledger-status][data-status=revoked]').waitFor();
  await V.locator('[data-testid=verify-result][data-ok=true]').waitFor();
  assert.equal(await V.getByTestId('verify-record').count(), 2);
  assert.equal(await V.getByTestId('cert-ledger-differs').count(), 0);
  await noHorizontalScroll(V, 'the revoked page');
  await screenshot(V, 'certificate-revoked-360');
});

test('a forged number is reported unknown, and another number can be looked up', async (t) => {
  const V = await visitor(t);
  await V.goto(`${server.url}/verify/JL-2026-999999`);
  const unknown = V.getByTestId('cert-unknown');
  await unknown.waitFor();
  assert.match(await unknown.textContent(), /JL-2026-999999/);
  assert.match(await unknown.textContent(), /伪造|forged/);
  if (number) {
    await V.getByTestId('cert-lookup').fill(number.toLowerCase());
    await V.getByTestId('cert-lookup').press('Enter');
    await V.locator('[data-testid=cert-verdict]').waitFor();
    assert.equal((await V.getByTestId('cert-number').textContent()).trim(), number);
  }
});
