// Live sessions in the browser: the room socket's outbox and resume under a
// lost network, help requests from the technician's form to the expert's
// room, the read-only record of an ended session, the clock-offset
// indicator, and the 360 px layout of the session pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowserForPeople, openPage, screenshot, apiLogin } from './harness.mjs';

const PASSWORD = 'Jiliang-demo-2026';
const QINAN = '秦安县计量检定所';

let server;
let browser;
let labs; // institution name (zh) -> id

before(async () => {
  server = await startServer();
  browser = await launchBrowserForPeople();
  const list = await (await apiSession('expert')).get('/api/v1/institutions');
  labs = Object.fromEntries(list.map((i) => [i.name_zh, i.id]));
});
after(async () => {
  await browser?.close();
  await server?.stop();
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
async function person(t, username, options = {}, pageOptions = {}) {
  const context = await browser.newContext(options);
  t.after(() => context.close());
  const page = await openPage(context, t, pageOptions);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
  return { context, page };
}

async function enterRoom(page, id) {
  await page.goto(`${server.url}/sessions/${id}`);
  await page.getByTestId('room-page').waitFor();
  await page.locator('[data-testid=conn-state][data-state=live]').waitFor();
}

/** Send a chat line through the message box (Enter sends). */
async function say(page, text) {
  const box = page.getByTestId('chat-input');
  await box.fill(text);
  await box.press('Enter');
}

/** The chat texts on a page, in order. */
function chatTexts(page) {
  return page.$$eval('[data-testid=chat-log] [data-testid=chat-message] [data-testid=chat-text]',
    (els) => els.map((e) => e.textContent));
}

async function waitForChat(page, text) {
  await page.locator('[data-testid=chat-message]:not([data-pending])', { hasText: text }).waitFor();
}

async function noHorizontalScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the screen`);
}

test('offline messages wait in the outbox and arrive exactly once, in the same order on both pages', async (t) => {
  const expert = await person(t, 'expert');
  const tech = await person(t, 'tech');
  const E = expert.page;
  const T = tech.page;

  // The expert schedules the session in the form, then starts it.
  await E.goto(`${server.url}/sessions`);
  await E.getByTestId('schedule-open').click();
  const form = E.getByTestId('schedule-form');
  await form.getByTestId('session-title').fill('电子天平远程检定（离线测试）');
  await form.locator(`[data-testid=lab-check][data-name="${QINAN}"] input`).check();
  await form.getByTestId('schedule-submit').click();
  await E.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  const id = E.url().split('/').pop();
  await E.locator('[data-testid=room-page][data-state=scheduled]').waitFor();
  await E.getByTestId('start-session').click();
  await E.locator('[data-testid=room-page][data-state=live]').waitFor();
  await E.locator('[data-testid=conn-state][data-state=live]').waitFor();

  // The technician finds it among the live sessions and enters.
  await T.goto(`${server.url}/sessions?view=live`);
  await T.locator('[data-testid=session-card][data-state=live]', { hasText: '离线测试' })
    .getByTestId('enter-session').click();
  await T.waitForURL(new RegExp(`/sessions/${id}$`));
  await T.locator('[data-testid=conn-state][data-state=live]').waitFor();

  // The clock offset indicator shows a value with its uncertainty.
  await T.getByTestId('clock-offset').filter({ hasText: '±' }).waitFor();
  assert.match(await T.getByTestId('clock-offset').innerText(),
    /时钟偏差 [+-]\d+\.\d ms ± \d+\.\d ms（UTC）/);

  // Presence: the expert sees the technician come online.
  await E.locator('[data-testid=participant][data-name=张伟][data-online=true]').waitFor();

  await say(E, '请先把天平预热 30 分钟。');
  await waitForChat(T, '请先把天平预热 30 分钟。');
  await say(T, '收到，正在预热。');
  await waitForChat(E, '收到，正在预热。');
  await waitForChat(T, '收到，正在预热。');

  // The technician loses the network.
  await tech.context.setOffline(true);
  await T.locator('[data-testid=conn-state][data-state=offline]').waitFor();
  await T.getByTestId('reconnect-banner').waitFor();
  await say(T, '零点已校准（离线 1）');
  await say(T, '示值误差 +0.2 mg（离线 2）');
  assert.equal(await T.getByTestId('pending-marker').count(), 2, 'two lines wait in the outbox');
  assert.match(await T.getByTestId('reconnect-banner').innerText(), /2 条待发送/);
  await screenshot(T, 'rooms-offline-pending');

  // Meanwhile the expert writes.
  await say(E, '请记录环境温度。');
  await waitForChat(E, '请记录环境温度。');

  // Back online: replay first, then the outbox.
  await tech.context.setOffline(false);
  await T.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await T.getByTestId('pending-marker').first().waitFor({ state: 'detached' });
  await waitForChat(E, '示值误差 +0.2 mg（离线 2）');
  await waitForChat(T, '示值误差 +0.2 mg（离线 2）');

  const expected = [
    '请先把天平预热 30 分钟。',
    '收到，正在预热。',
    '请记录环境温度。',
    '零点已校准（离线 1）',
    '示值误差 +0.2 mg（离线 2）',
  ];
  const onE = await chatTexts(E);
  const onT = await chatTexts(T);
  assert.deepEqual(onT, onE, 'both pages show the same lines in the same order');
  assert.deepEqual(onE, expected);
  assert.equal(new Set(onE).size, onE.length, 'no line shows twice');
  assert.equal(await T.getByTestId('pending-marker').count(), 0);
  assert.equal(await T.locator('[data-pending]').count(), 0);

  // A line typed offline survives closing the page: the outbox is kept
  // in localStorage and sent when the room is opened again.
  await tech.context.setOffline(true);
  await T.locator('[data-testid=conn-state][data-state=offline]').waitFor();
  await say(T, '关闭页面前的离线消息');
  await T.getByTestId('pending-marker').waitFor();
  await T.close();
  await tech.context.setOffline(false);
  const T2 = await openPage(tech.context, t);
  await enterRoom(T2, id);
  await waitForChat(T2, '关闭页面前的离线消息');
  await waitForChat(E, '关闭页面前的离线消息');
  const final = [...expected, '关闭页面前的离线消息'];
  assert.deepEqual(await chatTexts(E), final);
  assert.deepEqual(await chatTexts(T2), final);
  assert.equal(await T2.getByTestId('pending-marker').count(), 0);
});

test('the server restarts: both rooms reconnect by themselves and the line typed meanwhile arrives once', async (t) => {
  const id = await liveSession('expert', '服务器重启测试');
  const downOk = { serverMayBeDown: true };
  const E = (await person(t, 'expert', {}, downOk)).page;
  const T = (await person(t, 'tech', {}, downOk)).page;
  await enterRoom(E, id);
  await enterRoom(T, id);
  await say(E, '重启前的消息');
  await waitForChat(T, '重启前的消息');

  await server.halt();
  await T.locator('[data-testid=conn-state][data-state=reconnecting]').waitFor();
  await say(T, '服务器停机时输入的消息');
  await T.getByTestId('pending-marker').waitFor();
  assert.match(await T.getByTestId('reconnect-banner').innerText(), /正在重新连接…（第 \d+ 次尝试，离线消息 1 条待发送）/);
  await server.resume();

  await T.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await E.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await T.getByTestId('reconnected-banner').waitFor();
  await waitForChat(E, '服务器停机时输入的消息');
  await waitForChat(T, '服务器停机时输入的消息');
  const onE = await chatTexts(E);
  assert.deepEqual(onE, ['重启前的消息', '服务器停机时输入的消息']);
  assert.deepEqual(await chatTexts(T), onE);
  assert.equal(await T.getByTestId('pending-marker').count(), 0);
});

test('a technician asks for help; the expert accepts from the top of the queue and both meet in the room', async (t) => {
  // An older, less urgent request of the same lab is already waiting.
  const techApi = await apiSession('tech');
  await techApi.post('/api/v1/help-requests', {
    topic: '压力表回程误差偏大', instrument: 'Y-100 压力表', urgency: 'normal', details: '',
  });

  const tech = await person(t, 'tech');
  const T = tech.page;
  await T.getByTestId('dash-request-help').click();
  await T.getByTestId('help-form').waitFor();
  await T.getByTestId('help-topic').fill('电子天平示值漂移');
  await T.getByTestId('help-instrument').fill('XS205 电子天平，编号 B1234');
  await T.getByTestId('help-urgency').selectOption('high');
  await T.getByTestId('help-details').fill('开机两小时后示值持续漂移约 0.3 mg。');
  await T.getByTestId('help-submit').click();
  const mine = T.locator('[data-testid=my-help-list] [data-testid=help-item][data-topic=电子天平示值漂移]');
  await mine.waitFor();
  assert.equal(await mine.getAttribute('data-state'), 'open');

  const expert = await person(t, 'tianshui.admin');
  const E = expert.page;
  await E.getByTestId('dash-help-queue').waitFor();
  // The count loads after the card shows ("…" until then).
  await E.waitForFunction(() => /\d/.test(document.querySelector('[data-testid=dash-help-queue] .quick-count')?.textContent ?? ''));
  assert.match(await E.getByTestId('dash-help-queue').innerText(), /2\s*个求助待处理/);
  await E.getByTestId('dash-help-queue').click();
  const first = E.locator('[data-testid=queue-list] [data-testid=help-item]').first();
  await first.waitFor();
  assert.equal(await first.getAttribute('data-topic'), '电子天平示值漂移', 'the urgent request leads the queue');
  assert.equal(await first.getAttribute('data-urgency'), 'high');
  assert.match(await first.innerText(), /紧急[\s\S]*等待接受[\s\S]*(刚刚|分钟前)/);
  await screenshot(E, 'rooms-help-accept-desktop');
  await first.getByTestId('accept-help').click();
  await E.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  const id = E.url().split('/').pop();
  await E.locator('[data-testid=room-page][data-state=live]').waitFor();
  await E.locator('[data-testid=conn-state][data-state=live]').waitFor();
  assert.match(await E.getByTestId('room-title').innerText(), /电子天平示值漂移/);

  // The technician's list shows the request accepted, with the way in.
  await T.reload();
  const accepted = T.locator('[data-testid=my-help-list] [data-testid=help-item][data-topic=电子天平示值漂移]');
  await accepted.and(T.locator('[data-state=accepted]')).waitFor();
  assert.match(await accepted.innerText(), /已由 孙丽 接受/);
  await accepted.getByTestId('help-enter').click();
  await T.waitForURL(new RegExp(`/sessions/${id}$`));
  await T.locator('[data-testid=conn-state][data-state=live]').waitFor();
  await say(T, '专家您好，天平已开机。');
  await waitForChat(E, '专家您好，天平已开机。');
  await T.goto(`${server.url}/help`);
  await T.getByTestId('my-help-list').waitFor();
  await screenshot(T, 'rooms-help-tech-desktop');

  // The other request can still be withdrawn while open.
  const other = T.locator('[data-testid=my-help-list] [data-testid=help-item][data-topic=压力表回程误差偏大]');
  await other.getByTestId('help-cancel').click();
  await other.and(T.locator('[data-state=cancelled]')).waitFor();
});

test('when the host ends the session the other page turns into the read-only record, which a reload shows in full', async (t) => {
  const id = await liveSession('expert', '砝码比对（结束测试）');
  const expert = await person(t, 'expert');
  const tech = await person(t, 'tech');
  const E = expert.page;
  const T = tech.page;
  await enterRoom(E, id);
  await enterRoom(T, id);
  await say(E, '今天比对 F1 级 100 g 砝码。');
  await waitForChat(T, '今天比对 F1 级 100 g 砝码。');
  await say(T, '数据已上传。');
  await waitForChat(E, '数据已上传。');
  await screenshot(E, 'rooms-room-live-desktop');

  await E.getByTestId('end-session').click();
  await E.getByTestId('confirm-end').click();
  await E.getByTestId('ended-notice').waitFor();

  // The technician's page switches by itself (the state event).
  await T.getByTestId('ended-notice').waitFor();
  assert.match(await T.getByTestId('ended-notice').innerText(), /会话已结束 · 只读/);
  assert.equal(await T.getByTestId('chat-input').count(), 0, 'no message box any more');
  assert.equal(await T.getByTestId('composer').count(), 0);
  assert.deepEqual(await chatTexts(T), ['今天比对 F1 级 100 g 砝码。', '数据已上传。']);
  assert.match(await T.getByTestId('chat-log').innerText(), /李明华 结束了会话/);

  // A reload reads the record from the server: the same timeline.
  await T.reload();
  await T.getByTestId('ended-notice').waitFor();
  await T.getByTestId('chat-log').waitFor();
  assert.deepEqual(await chatTexts(T), ['今天比对 F1 级 100 g 砝码。', '数据已上传。']);
  const log = await T.getByTestId('chat-log').innerText();
  assert.match(log, /李明华 开始了会话[\s\S]*张伟 进入了会话[\s\S]*今天比对[\s\S]*数据已上传[\s\S]*李明华 结束了会话/);
  assert.match(await T.getByTestId('started-at').innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  assert.match(await T.getByTestId('ended-at').innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  assert.equal(await T.getByTestId('chat-input').count(), 0);
  await screenshot(T, 'rooms-room-ended-desktop');
  await T.setViewportSize({ width: 360, height: 740 });
  await noHorizontalScroll(T, 'the ended record');
  await screenshot(T, 'rooms-room-ended-360');
});

test('the session pages and the room fit a 360 px phone; screenshots', async (t) => {
  const id = await liveSession('expert', '温度计远程校准（手机布局）');
  // A scheduled one too, for the lists and the calendar.
  const api = await apiSession('expert');
  await api.post('/api/v1/sessions', {
    title: '本周培训：压力表检定规程',
    description: 'JJG 52-2013 要点讲解',
    scheduled_start: new Date(Date.now() + 2 * 3600_000).toISOString(),
    duration_minutes: 90,
    lab_ids: [labs[QINAN], labs['通渭县计量检定所']],
  });
  // Open help requests of two labs, for the queue.
  await (await apiSession('tech')).post('/api/v1/help-requests', {
    topic: '加油机检定装置无法通讯', instrument: 'JJY-50 标准金属量器', urgency: 'critical',
    details: '现场有两台加油机等待检定，标准装置的通讯口无响应。',
  });
  await (await apiSession('tongwei.tech')).post('/api/v1/help-requests', {
    topic: '请教温湿度记录格式', instrument: '温湿度计 TH-20', urgency: 'low', details: '',
  });

  const expert = await person(t, 'expert');
  const E = expert.page;
  for (const [path, ready, name] of [
    ['/sessions', 'session-list', 'sessions-list'],
    ['/sessions?view=calendar', 'calendar', 'sessions-calendar'],
    ['/help', 'help-queue', 'help-queue'],
  ]) {
    await E.setViewportSize({ width: 1280, height: 800 });
    await E.goto(server.url + path);
    await E.getByTestId(ready).waitFor();
    await E.waitForFunction(() => !document.querySelector('[data-testid=loading]'));
    await screenshot(E, `rooms-${name}-desktop`);
    await E.setViewportSize({ width: 360, height: 740 });
    await E.waitForTimeout(100);
    await noHorizontalScroll(E, path);
    await screenshot(E, `rooms-${name}-360`);
  }
  // The scheduling form on a phone.
  await E.goto(`${server.url}/sessions`);
  await E.getByTestId('schedule-open').click();
  await E.getByTestId('lab-check').first().waitFor();
  await E.getByTestId('people-search').fill('吴');
  await E.getByTestId('people-search').press('Enter');
  await E.locator('.pick-item', { hasText: '吴晓燕' }).getByRole('button').click();
  await E.getByTestId('chosen-people').getByText('吴晓燕').waitFor();
  await noHorizontalScroll(E, 'the scheduling form');
  await screenshot(E, 'rooms-schedule-form-360');

  // The calendar puts this week's sessions on their local days.
  await E.goto(`${server.url}/sessions?view=calendar`);
  await E.getByTestId('cal-item').first().waitFor();
  assert.ok(await E.getByTestId('cal-item').count() >= 2);

  // The room on a phone: participants folded above the chat, the message
  // box at the bottom of the screen.
  const tech = await person(t, 'tech', { viewport: { width: 360, height: 740 } });
  const T = tech.page;
  await enterRoom(T, id);
  await enterRoom(E, id);
  for (let i = 1; i <= 6; i++) await say(E, `第 ${i} 次读数：20.0${i} °C，请核对。`);
  await waitForChat(T, '第 6 次读数');
  await say(T, '核对无误，环境温度 20.3 °C，湿度 45 %RH。');
  await waitForChat(T, '核对无误');
  await noHorizontalScroll(T, 'the live room');
  const details = T.getByTestId('participants');
  assert.equal(await details.getAttribute('open'), null, 'participants start folded on a phone');
  const box = await T.getByTestId('composer').boundingBox();
  assert.ok(box && Math.abs(box.y + box.height - 740) <= 1, `message box at the bottom (${JSON.stringify(box)})`);
  await screenshot(T, 'rooms-room-live-360');
  await details.locator('summary').click();
  await T.locator('[data-testid=participant][data-name=李明华][data-online=true]').waitFor();
  await noHorizontalScroll(T, 'the live room with participants open');
  await screenshot(T, 'rooms-room-live-participants-360');
  await E.setViewportSize({ width: 1280, height: 800 });
  await screenshot(E, 'rooms-room-live-expert-desktop');

  // Reading back in the log: new lines do not pull the reader down; a
  // pill says they are there.
  const log = E.getByTestId('chat-log');
  await log.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await E.locator('[data-testid=chat-log][data-follow=true]').waitFor();
  await log.hover();
  await E.mouse.wheel(0, -2000);
  await E.locator('[data-testid=chat-log][data-follow=false]').waitFor();
  await say(T, '请往上看第 1 次读数。');

  await E.getByTestId('new-messages').waitFor();
  assert.ok(await E.getByTestId('chat-log').evaluate((el) => el.scrollTop) < 10, 'the log stayed where the reader was');
  await E.getByTestId('new-messages').click();
  await E.getByTestId('new-messages').waitFor({ state: 'detached' });

  // An administrator above the lab who does not take part reads the
  // record so far, without a message box.
  const A = (await person(t, 'admin')).page;
  await A.goto(`${server.url}/sessions/${id}`);
  await A.getByTestId('overseer-notice').waitFor();
  await waitForChat(A, '请往上看第 1 次读数。');
  assert.equal(await A.getByTestId('chat-input').count(), 0);

  // The room in English on the phone.
  await T.getByTestId('lang-switch').click();
  await T.getByTestId('conn-state').filter({ hasText: 'Connected' }).waitFor();
  await noHorizontalScroll(T, 'the live room in English');
  await screenshot(T, 'rooms-room-live-360-en');
});
