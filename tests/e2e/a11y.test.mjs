// Accessibility: axe-core (pinned in tests/package.json, installed by
// `npm ci`, never fetched at test time) runs inside every page, in Chinese
// and English, on a 360 px phone and a 1280 px desktop: no serious or
// critical violation. Then the keyboard alone: log in, skip to the content,
// open the phone menu and leave it with Escape, send a chat line in the
// room. Then 200 % and 400 % zoom of a 1280 px screen (640 and 320 CSS px
// wide): nothing runs off the side, screenshots to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer, launchBrowserForPeople, openPage, screenshot, apiLogin, DEMO_PASSWORD } from './harness.mjs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const QINAN = '秦安县计量检定所';

let server;
let browser;
let pages; // [name, path, person]

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople();
  const expert = await apiLogin(server.url, 'expert');
  const institutions = await expert.get('/api/v1/institutions');
  const lab = institutions.find((i) => i.name_zh === QINAN).id;
  const s = await expert.post('/api/v1/sessions', {
    title: '无障碍检查会话',
    scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
    duration_minutes: 60,
    lab_ids: [lab],
  });
  await expert.post(`/api/v1/sessions/${s.id}/start`);
  pages = [
    ['home', '/', null],
    ['login', '/login', null],
    ['status', '/status', null],
    ['verify', '/verify', null],
    ['not-found', '/no/such/page', null],
    ['dashboard', '/', 'admin'],
    ['sessions', '/sessions', 'expert'],
    ['room', `/sessions/${s.id}`, 'expert'],
    ['help', '/help', 'tech'],
    ['institutions', '/institutions', 'admin'],
    ['institution', `/institutions/${lab}`, 'admin'],
    ['devices', `/institutions/${lab}/devices`, 'admin'],
    ['people', '/people', 'admin'],
    ['audit', '/audit', 'admin'],
    ['account', '/account', 'tech'],
  ];
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function loginThroughPage(page, username) {
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(DEMO_PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
}

/** A page settled: its heading is there and nothing is still loading. */
async function settled(page) {
  await page.locator('main h1').first().waitFor();
  await page.waitForFunction(() => !document.querySelector('.spinner'), null, { timeout: 15_000 });
  await page.waitForTimeout(150);
}

/** Serious and critical axe violations on the page, as readable lines. */
async function axeProblems(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    resultTypes: ['violations'],
  }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join('\n    ')}`);
}

for (const locale of ['zh-CN', 'en']) {
  test(`every page passes axe-core in ${locale}, on a phone and a desktop`, async (t) => {
    const problems = [];
    const contexts = new Map();
    const contextFor = async (who) => {
      if (contexts.has(who)) return contexts.get(who);
      const context = await browser.newContext({ locale });
      t.after(() => context.close());
      const page = await openPage(context, t);
      // The interface language is the person's choice, remembered by the app.
      await page.goto(`${server.url}/status`);
      await page.evaluate((l) => localStorage.setItem('jiliang.locale', l), locale);
      if (who) await loginThroughPage(page, who);
      contexts.set(who, page);
      return page;
    };
    for (const [name, path, who] of pages) {
      const page = await contextFor(who);
      for (const width of [360, 1280]) {
        await page.setViewportSize({ width, height: width === 360 ? 740 : 800 });
        await page.goto(server.url + path);
        await settled(page);
        assert.equal(await page.locator('html').getAttribute('lang'), locale);
        for (const p of await axeProblems(page)) problems.push(`${name} @${width}px: ${p}`);
        if (width === 360) {
          // The phone menu, opened, is checked too.
          await page.getByTestId('nav-toggle').click();
          await page.getByTestId('mainnav').waitFor();
          for (const p of await axeProblems(page)) problems.push(`${name} @360px, menu open: ${p}`);
          await page.getByTestId('nav-toggle').click();
        }
      }
    }
    assert.deepEqual(problems, [], `axe-core found:\n${problems.join('\n')}`);
  });
}

test('the phone menu: every destination at a glance, 44 px targets, the current place marked', async (t) => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  t.after(() => context.close());
  const page = await openPage(context, t);
  await loginThroughPage(page, 'admin');
  await page.goto(`${server.url}/people`);
  await settled(page);
  const toggle = page.getByTestId('nav-toggle');
  assert.match(await toggle.innerText(), /人员/);
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await screenshot(page, 'a11y-phone-menu-closed-360');
  await toggle.tap();
  const nav = page.getByTestId('mainnav');
  await nav.waitFor();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  const links = nav.getByRole('link');
  const names = await links.allInnerTexts();
  for (const want of ['首页', '会话', '机构', '人员', '审计日志', '我的账户', '核验记录', '系统状态']) {
    assert.ok(names.includes(want), `${want} is in the menu (${names})`);
  }
  for (let i = 0; i < await links.count(); i++) {
    const box = await links.nth(i).boundingBox();
    assert.ok(box.height >= 44 && box.width >= 44, `${names[i]} is ${box.width}×${box.height}`);
    assert.ok(box.x >= 0 && box.x + box.width <= 360, `${names[i]} fits the screen (${box.x}+${box.width})`);
    assert.ok(box.y + box.height <= 740, `${names[i]} is visible without scrolling (${box.y})`);
  }
  assert.equal(await nav.locator('[aria-current=page]').innerText(), '人员');
  for (const id of ['nav-toggle', 'lang-switch', 'logout']) {
    const box = await page.getByTestId(id).boundingBox();
    assert.ok(box.height >= 44 && box.width >= 44, `${id} is ${box.width}×${box.height}`);
  }
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${overflow}px wider than the screen`);
  await screenshot(page, 'a11y-phone-menu-open-360');
  await nav.getByRole('link', { name: '我的账户' }).tap();
  await page.waitForURL(/\/account$/);
  await nav.waitFor({ state: 'hidden' });
  assert.match(await toggle.innerText(), /我的账户/);
});

test('the keyboard alone: log in, skip to the content, the menu, the room chat', async (t) => {
  const { id } = await (async () => {
    const expert = await apiLogin(server.url, 'expert');
    const institutions = await expert.get('/api/v1/institutions');
    const lab = institutions.find((i) => i.name_zh === QINAN).id;
    const s = await expert.post('/api/v1/sessions', {
      title: '键盘操作会话',
      scheduled_start: new Date(Date.now() + 3600_000).toISOString(),
      duration_minutes: 60,
      lab_ids: [lab],
    });
    await expert.post(`/api/v1/sessions/${s.id}/start`);
    return s;
  })();
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  t.after(() => context.close());
  const page = await openPage(context, t);
  const focused = () => page.evaluate(() => document.activeElement?.dataset?.testid
    ?? document.activeElement?.id ?? document.activeElement?.tagName);
  /** Tab until the element with `testid` has focus (at most 40 presses). */
  const tabTo = async (testid) => {
    for (let i = 0; i < 40; i++) {
      if ((await focused()) === testid) return;
      await page.keyboard.press('Tab');
    }
    assert.fail(`Tab never reached ${testid}`);
  };

  // Log in with the keyboard.
  await page.goto(`${server.url}/login`);
  await settled(page);
  await tabTo('login-name');
  await page.keyboard.type('tech');
  await tabTo('login-password');
  await page.keyboard.type(DEMO_PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByTestId('dash-greeting').waitFor();

  // The first Tab offers the skip link; Enter moves focus to the content.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link');
  await page.keyboard.press('Enter');
  assert.equal(await focused(), 'main');

  // The phone menu: open with Enter, follow a link, Escape closes it.
  await tabTo('nav-toggle');
  await page.keyboard.press('Enter');
  await page.getByTestId('mainnav').waitFor();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Escape');
  await page.getByTestId('mainnav').waitFor({ state: 'hidden' });
  assert.equal(await focused(), 'nav-toggle');
  await page.keyboard.press('Enter');
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.getAttribute('href') === '/sessions')) break;
  }
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/sessions$/);

  // The room: reach the message box and send with Enter.
  await page.goto(`${server.url}/sessions/${id}`);
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await page.evaluate(() => document.activeElement?.blur());
  await tabTo('chat-input');
  await page.keyboard.type('键盘发送的消息');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=chat-message]:not([data-pending])', { hasText: '键盘发送的消息' }).waitFor();
});

test('200 % and 400 % zoom of a desktop screen: nothing runs off the side', async (t) => {
  // Zooming a 1280 px window to 200 % leaves 640 CSS px; 400 %, 320 px
  // (WCAG's reflow width).
  const context = await browser.newContext({ viewport: { width: 640, height: 400 }, deviceScaleFactor: 2 });
  t.after(() => context.close());
  const page = await openPage(context, t);
  await loginThroughPage(page, 'admin');
  const wide = [];
  for (const width of [640, 320]) {
    await page.setViewportSize({ width, height: 400 });
    for (const [name, path] of [['dashboard', '/'], ['sessions', '/sessions'], ['people', '/people'], ['audit', '/audit'], ['account', '/account']]) {
      await page.goto(server.url + path);
      await settled(page);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) wide.push(`${name} @${width}px: ${overflow}px too wide`);
      await screenshot(page, `a11y-zoom-${width}-${name}`);
    }
  }
  assert.deepEqual(wide, []);
});
