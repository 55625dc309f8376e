// The application shell: it renders, talks to the server, switches language,
// and fits a 360 px phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, screenshot } from './harness.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the app renders in Chinese and reads /healthz through the API', async (t) => {
  const page = await openPage(browser.context, t);
  await page.goto(server.url + '/');
  await page.getByRole('heading', { level: 1 }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
  assert.match(await page.locator('.brand-name').innerText(), /计量协作网/);
  assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /县级实验室/);
  await page.getByTestId('health-ok').waitFor();
  assert.match(await page.getByTestId('health').innerText(), /在线/);
  await screenshot(page, 'shell-home-zh');
});

test('the language switch changes visible text and is remembered', async (t) => {
  const page = await openPage(browser.context, t);
  await page.goto(server.url + '/');
  await page.getByTestId('health-ok').waitFor();
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: /Bringing provincial experts/ }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  assert.match(await page.getByRole('navigation').innerText(), /System status/);
  assert.match(await page.getByTestId('health').innerText(), /Online/);
  await screenshot(page, 'shell-home-en');
  // A reload keeps English; switching back restores Chinese.
  await page.reload();
  await page.getByRole('heading', { name: /Bringing provincial experts/ }).waitFor();
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: /县级实验室/ }).waitFor();
});

test('status page shows readiness checks; unknown routes show a 404 page', async (t) => {
  const page = await openPage(browser.context, t);
  await page.goto(server.url + '/status');
  await page.getByTestId('readiness').getByText('就绪').waitFor();
  const rows = page.locator('table tbody tr');
  await rows.first().waitFor();
  // database, clock, bus and the ledger's self-check.
  assert.equal(await rows.count(), 4);
  assert.match(await page.locator('table').innerText(), /数据库[\s\S]*正常/);
  assert.match(await page.locator('table').innerText(), /消息总线[\s\S]*正常[\s\S]*in-process/);
  await page.goto(server.url + '/no/such/page');
  await page.getByTestId('not-found').waitFor();
  assert.match(await page.getByTestId('not-found').innerText(), /页面不存在/);
});

test('the shell fits a 360 px phone without horizontal scrolling', async (t) => {
  const page = await openPage(browser.context, t);
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(server.url + '/status');
  await page.getByTestId('readiness').getByText('就绪').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
  await page.goto(server.url + '/');
  await page.getByTestId('health-ok').waitFor();
  const overflowHome = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflowHome <= 0, `home is ${overflowHome}px wider than the screen`);
  await screenshot(page, 'shell-home-360');
});
