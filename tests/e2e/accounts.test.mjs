// Accounts and access control in the browser: dashboards per role, the
// 403 page, the invitation round trip, login errors and deactivation, and
// the 360 px layout of the management pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, screenshot, apiLogin } from './harness.mjs';

const PASSWORD = 'Jiliang-demo-2026';

let server;
let browser;
let ids; // institution name (zh) -> id, as the national administrator sees them

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ids = await institutionIds('nim.admin');
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A logged-in API client (no browser), for setting up and checking. */
const apiSession = (username) => apiLogin(server.url, username);

async function institutionIds(username) {
  const list = await (await apiSession(username)).get('/api/v1/institutions');
  return Object.fromEntries(list.map((i) => [i.name_zh, i.id]));
}

/** Log in through the login page and wait for the dashboard. */
async function login(page, username, password = PASSWORD) {
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-password').press('Enter');
  await page.getByTestId('dash-greeting').waitFor();
}

async function logout(page) {
  await page.getByTestId('logout').click();
  await page.getByTestId('logged-out').waitFor();
  await page.getByTestId('login-link').waitFor();
}

async function noHorizontalScroll(page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${what} is ${overflow}px wider than the screen`);
}

test('each role logs in to its own dashboard and logs out', async (t) => {
  const page = await openPage(browser.context, t);

  await login(page, 'admin');
  assert.match(await page.getByTestId('user-name').innerText(), /王建国/);
  assert.match(await page.getByTestId('userbar').innerText(), /管理员/);
  await page.getByTestId('dash-admin').waitFor();
  assert.match(await page.getByTestId('quick-institutions').innerText(), /10\s*个机构/);
  const labs = page.getByTestId('dash-labs');
  await labs.getByText('秦安县计量检定所').waitFor();
  assert.equal(await labs.getByTestId('lab-card').count(), 9);
  assert.equal(await page.getByTestId('dash-lab').count(), 0);
  await logout(page);

  await login(page, 'expert');
  await page.getByTestId('dash-labs').getByText('通渭县计量检定所').waitFor();
  assert.equal(await page.getByTestId('dash-admin').count(), 0);
  assert.match(await page.getByTestId('userbar').innerText(), /李明华[\s\S]*专家/);
  // Upcoming sessions: none yet, then the soonest first.
  await page.getByTestId('upcoming-empty').waitFor();
  // Its action opens the scheduling form.
  await page.getByTestId('upcoming-action').click();
  await page.getByTestId('schedule-form').waitFor();
  await page.goto(`${server.url}/`);
  const expertApi = await apiSession('expert');
  const inHours = (h) => new Date(Date.now() + h * 3600e3).toISOString();
  for (const [title, h] of [['压力表检定指导', 48], ['天平校准答疑', 2]]) {
    await expertApi.post('/api/v1/sessions', {
      title, scheduled_start: inHours(h), duration_minutes: 60, lab_ids: [ids['秦安县计量检定所']],
    });
  }
  await page.reload();
  const upcoming = page.getByTestId('upcoming-list').getByTestId('session-card');
  await upcoming.first().waitFor();
  assert.deepEqual(await upcoming.evaluateAll((els) => els.map((e) => e.dataset.title)),
    ['天平校准答疑', '压力表检定指导']);
  await logout(page);

  await login(page, 'tech');
  const lab = page.getByTestId('dash-lab');
  await lab.getByText('秦安县计量检定所').waitFor();
  assert.match(await page.getByTestId('dash-chain').innerText(), /天水市计量测试所[\s\S]*甘肃省计量研究院[\s\S]*0931/);
  await page.getByTestId('dash-colleagues').getByText('吴晓燕').waitFor();
  // The lab's technician sees the sessions scheduled with it.
  await page.getByTestId('upcoming-list').getByText('天平校准答疑').waitFor();
  assert.equal(await page.getByTestId('dash-labs').count(), 0);
  assert.equal(await page.getByTestId('dash-admin').count(), 0);
  // Technicians see their lab's people but no audit log.
  assert.equal(await page.getByRole('link', { name: '审计日志' }).count(), 0);
  await logout(page);

  await login(page, 'trainee');
  await page.getByTestId('dash-learning').getByTestId('no-courses').waitFor();
  assert.match(await page.getByTestId('dash-profile').innerText(), /秦安县计量检定所[\s\S]*trainee/);
  assert.equal(await page.getByTestId('dash-lab').count(), 0);
  assert.equal(await page.getByRole('link', { name: '人员' }).count(), 0);
  await logout(page);

  // Pages that need a login send visitors to it, and back afterwards.
  await page.goto(`${server.url}/people`);
  await page.waitForURL(/\/login\?next=%2Fpeople/);
  await page.getByTestId('login-name').fill('admin');
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.waitForURL(/\/people$/);
  await page.getByTestId('people-list').waitFor();
  await logout(page);
});

test('a technician gets the no-access page for another county lab and sees their own', async (t) => {
  const page = await openPage(browser.context, t);
  await login(page, 'tech');
  await page.goto(`${server.url}/institutions/${ids['通渭县计量检定所']}`);
  await page.getByTestId('forbidden').waitFor();
  assert.match(await page.getByTestId('forbidden').innerText(), /无权访问/);

  await page.goto(`${server.url}/institutions/${ids['秦安县计量检定所']}`);
  await page.getByTestId('institution-page').waitFor();
  assert.equal(await page.getByTestId('institution-name').innerText(), '秦安县计量检定所');
  assert.match(await page.locator('.breadcrumb').innerText(), /甘肃省计量研究院[\s\S]*天水市计量测试所/);
  await page.getByTestId('institution-people').getByText('张伟').waitFor();
  assert.equal(await page.getByTestId('inst-actions').count(), 0, 'no admin actions for a technician');

  // An id that does not exist is a "not found", not a "no access".
  await page.goto(`${server.url}/institutions/0190b5c4-0000-7000-8000-000000000000`);
  await page.getByTestId('not-found').waitFor();
  await logout(page);
});

test('an invited technician sets up the account from the one-time link', async (t) => {
  const page = await openPage(browser.context, t);
  await login(page, 'admin');
  await page.goto(`${server.url}/people`);
  await page.getByTestId('open-invite').click();
  const form = page.getByTestId('invite-form');
  await form.getByTestId('invite-name').fill('孙测试');
  await form.getByTestId('invite-email').fill('sun.test@example.cn');
  await form.getByTestId('invite-institution').selectOption({ label: '秦安县计量检定所' });
  assert.ok(await form.locator('input[value="technician"]').isChecked(), 'technician is the default role');
  await form.getByTestId('invite-submit').click();
  const result = page.getByTestId('invite-result');
  await result.waitFor();
  assert.match(await result.innerText(), /服务器不会发送邮件或短信/);
  const link = await result.getByTestId('one-time-link').inputValue();
  assert.match(link, new RegExp(`^${server.url}/invite/[0-9a-f]{64}$`));
  await page.getByTestId('invitations').getByText('孙测试').waitFor();
  assert.match(await page.getByTestId('invitations').getByTestId('invitation').first().innerText(), /待接受/);
  await logout(page);

  // The invitee, in a browser of their own.
  const other = await launchBrowser();
  t.after(() => other.close());
  const invitee = await openPage(other.context, t);
  await invitee.goto(link);
  await invitee.getByTestId('invite-info').waitFor();
  assert.equal(await invitee.getByTestId('invite-display-name').innerText(), '孙测试');
  assert.equal(await invitee.getByTestId('invite-institution').innerText(), '秦安县计量检定所');
  // A weak password: every broken rule is listed next to the field.
  await invitee.getByTestId('accept-username').fill('sun.test');
  await invitee.getByTestId('accept-password').fill('short');
  await invitee.getByTestId('accept-confirm').fill('short');
  await invitee.getByTestId('accept-submit').click();
  const fieldErrors = invitee.getByTestId('accept-form').locator('.field-errors li');
  await fieldErrors.filter({ hasText: /至少需要 10 个字符/ }).waitFor();
  await fieldErrors.filter({ hasText: /至少三类/ }).waitFor();
  assert.equal(await invitee.getByTestId('accept-password').getAttribute('aria-invalid'), 'true');
  await invitee.getByTestId('accept-password').fill('Qin-an-lab-2026');
  await invitee.getByTestId('accept-confirm').fill('Qin-an-lab-2026');
  await invitee.getByTestId('accept-submit').click();
  await invitee.getByTestId('dash-lab').getByText('秦安县计量检定所').waitFor();
  assert.match(await invitee.getByTestId('user-name').innerText(), /孙测试/);
  await invitee.getByTestId('dash-colleagues').getByText('张伟').waitFor();
  await logout(invitee);

  await login(invitee, 'sun.test', 'Qin-an-lab-2026');
  await invitee.getByTestId('dash-lab').waitFor();
  await logout(invitee);

  // The link worked once.
  await invitee.goto(link);
  await invitee.getByTestId('link-invalid').waitFor();
});

test('an administrator revokes a pending invitation and its link stops working', async (t) => {
  const admin = await apiSession('admin');
  const invitation = await admin.post('/api/v1/invitations', {
    display_name: '撤回测试',
    email: 'revoke.test@example.cn',
    institution_id: ids['秦安县计量检定所'],
    roles: ['technician'],
  });
  const page = await openPage(browser.context, t);
  await login(page, 'admin');
  await page.goto(`${server.url}/people`);
  const card = page.getByTestId('invitations').getByTestId('invitation').filter({ hasText: '撤回测试' });
  await card.waitFor();
  assert.match(await card.getByTestId('invitation-status').innerText(), /待接受/);
  await card.getByTestId('revoke-invitation').click();
  await card.getByTestId('invitation-status').getByText('已撤回').waitFor();
  assert.equal(await card.getByTestId('revoke-invitation').count(), 0, 'nothing left to revoke');
  await logout(page);

  await page.goto(invitation.link);
  const gone = page.getByTestId('link-expired');
  await gone.waitFor();
  assert.match(await gone.innerText(), /已被撤回/);
});

test('login errors come from the server; a deactivated account is refused', async (t) => {
  const page = await openPage(browser.context, t);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-name').fill('admin');
  await page.getByTestId('login-password').fill('not-the-password');
  await page.getByTestId('login-submit').click();
  const alert = page.getByTestId('login-form').getByTestId('form-error');
  await alert.getByText('用户名或密码不正确。').waitFor();
  assert.equal(await page.getByTestId('login-password').inputValue(), '', 'password field is cleared');

  // Five failures lock the account; the server says for how long.
  await page.getByTestId('login-name').fill('wen.tech');
  for (let i = 0; i < 5; i += 1) {
    await page.getByTestId('login-password').fill(`wrong-${i}`);
    await page.getByTestId('login-password').press('Enter');
    await page.getByTestId('login-submit').and(page.locator(':enabled')).waitFor();
  }
  await alert.getByText(/请求过于频繁，请在 \d+ 秒后重试/).waitFor();

  await login(page, 'admin');
  await page.goto(`${server.url}/people`);
  await page.getByTestId('people-q').fill('gangu');
  await page.getByTestId('people-q').press('Enter');
  const card = page.locator('[data-testid="person"][data-username="gangu.tech"]');
  await card.waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="person"]').length === 1);
  await card.getByTestId('toggle-person').click();
  await card.getByTestId('confirm-toggle-person').click();
  await card.getByTestId('inactive').waitFor();
  await logout(page);

  await page.getByTestId('login-name').fill('gangu.tech');
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  // The same answer as a wrong password: a right guess is not confirmed.
  await alert.getByText('用户名或密码不正确。').waitFor();

  // The audit log recorded both.
  await login(page, 'admin');
  await page.goto(`${server.url}/audit`);
  const table = page.getByTestId('audit-table');
  await table.locator('[data-event="user_deactivated"]').first().waitFor();
  assert.match(await table.locator('[data-event="user_deactivated"]').first().innerText(), /停用账户[\s\S]*王建国[\s\S]*刘洋/);
  await page.getByTestId('filter-event').selectOption('login_failed');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="audit-row"]')]
    .every((r) => r.dataset.event === 'login_failed'));
  assert.ok(await table.locator('[data-event="login_failed"]').count() >= 2);
  await logout(page);
});

test('an administrator adds, renames, moves and deactivates an institution in the tree', async (t) => {
  const page = await openPage(browser.context, t);
  await login(page, 'admin');
  await page.goto(`${server.url}/institutions`);
  const node = (name) => page.locator(`[data-testid="tree-node"][data-name="${name}"]`);
  const manage = async (name) => {
    await node(name).locator(':scope > .tree-row [data-testid="manage-institution"]').click();
    return node(name).locator(':scope > [data-testid="inst-actions"]');
  };

  let actions = await manage('陇南市计量测试所');
  await actions.getByTestId('add-child').click();
  const form = actions.getByTestId('add-child-form');
  assert.deepEqual(await form.locator('select option').evaluateAll((os) => os.map((o) => o.value)), ['county'],
    'a city can only get county labs');
  await form.getByTestId('name-zh').fill('康县计量检定所');
  await form.getByTestId('region-code').fill('6212');
  await form.getByTestId('submit-child').click();
  await form.locator('.field-errors').getByText(/6 位数字/).waitFor();
  await form.getByTestId('region-code').fill('621224');
  await form.getByTestId('submit-child').click();
  await node('陇南市计量测试所').locator('[data-name="康县计量检定所"]').waitFor();

  actions = await manage('康县计量检定所');
  await actions.getByTestId('edit-institution').click();
  await actions.getByTestId('edit-name-zh').fill('康县计量检定站');
  await actions.getByRole('button', { name: '保存' }).click();
  await node('康县计量检定站').waitFor();

  actions = await manage('康县计量检定站');
  await actions.getByTestId('move-institution').click();
  const parents = await actions.getByTestId('new-parent').locator('option').allInnerTexts();
  assert.ok(!parents.some((p) => p.startsWith('陇南市')), 'the current parent is not offered');
  assert.ok(!parents.some((p) => p.includes('县')), 'county labs cannot take a county lab');
  await actions.getByTestId('new-parent').selectOption({ label: '天水市计量测试所 (市级)' });
  await actions.getByRole('button', { name: '移动' }).last().click();
  await node('天水市计量测试所').locator('[data-name="康县计量检定站"]').waitFor();

  actions = await manage('康县计量检定站');
  await actions.getByTestId('toggle-institution').click();
  assert.match(await actions.getByTestId('toggle-institution-form').innerText(), /确定停用“康县计量检定站”/);
  await actions.getByTestId('confirm-toggle').click();
  await node('康县计量检定站').getByTestId('inactive').waitFor();

  // Administrators cannot restructure their own institution.
  actions = await manage('甘肃省计量研究院');
  assert.equal(await actions.getByTestId('toggle-institution').count(), 0);
  assert.equal(await actions.getByTestId('move-institution').count(), 0);
  await logout(page);
});

test('a session ended elsewhere sends the person to the login page with a notice', async (t) => {
  const page = await openPage(browser.context, t);
  await login(page, 'min.tech');
  // An administrator issues a reset link: the person's sessions end.
  const admin = await apiSession('admin');
  const { items: [person] } = await admin.get('/api/v1/users?q=min.tech');
  const { link } = await admin.post(`/api/v1/users/${person.id}/password-reset`);
  await page.locator('.mainnav').getByRole('link', { name: '机构' }).click();
  await page.getByTestId('session-ended').waitFor();
  assert.match(page.url(), /\/login\?next=%2Finstitutions$/);
  assert.equal(await page.getByTestId('userbar').count(), 0);
  // The old password stopped working with the reset; the person sets a new
  // one through the link (here the same, so later tests can still log in).
  await page.getByTestId('login-name').fill('min.tech');
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('form-error').getByText('用户名或密码不正确。').waitFor();
  const token = link.split('/').pop();
  const done = await fetch(`${server.url}/api/v1/password-resets/${token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.url },
    body: JSON.stringify({ password: PASSWORD }),
  });
  assert.equal(done.status, 204, await done.text());
  // Logging in again returns to where they were.
  await page.getByTestId('login-name').fill('min.tech');
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('institution-tree').getByText('岷县计量检定所').waitFor();
  await logout(page);
});

test('in English, the interface and the server messages follow', async (t) => {
  const page = await openPage(browser.context, t);
  await page.goto(`${server.url}/login`);
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: 'Log in to Jiliang' }).waitFor();
  await page.getByTestId('login-name').fill('expert2');
  await page.getByTestId('login-password').fill('wrong-password-1');
  await page.getByTestId('login-submit').click();
  await page.getByTestId('form-error').getByText('The username or password is not correct.').waitFor();
  await login(page, 'expert2');
  assert.match(await page.getByTestId('userbar').innerText(), /马晓东[\s\S]*Expert/);
  await page.getByTestId('dash-labs').getByText('Qin\'an County Metrology Station').waitFor();
  await page.goto(`${server.url}/people`);
  await page.getByRole('heading', { name: 'People', level: 1 }).waitFor();
  await page.getByTestId('open-invite').click();
  const roles = page.getByTestId('invite-roles');
  assert.deepEqual(await roles.locator('input').evaluateAll((els) => els.map((e) => e.value)), ['technician', 'trainee'],
    'experts may invite technicians and trainees only');
  assert.equal(await page.getByTestId('open-create').count(), 0, 'experts cannot create accounts');
  assert.equal(await page.getByTestId('edit-person').count(), 0, 'experts see a read-only list');
  await screenshot(page, 'accounts-people-expert-en');
  await page.getByTestId('logout').click();
  await page.getByTestId('logged-out').waitFor();
  await page.getByTestId('lang-switch').click();
  await page.getByRole('heading', { name: '登录计量协作网' }).waitFor();
});

test('management pages fit a 360 px phone; screenshots', async (t) => {
  const page = await openPage(browser.context, t);
  await login(page, 'admin');
  await page.getByTestId('dash-labs').waitFor();
  await screenshot(page, 'accounts-dashboard-admin-desktop');
  await page.goto(`${server.url}/institutions`);
  await page.getByTestId('institution-tree').waitFor();
  await page.getByTestId('manage-institution').nth(1).click();
  await page.getByTestId('inst-actions').waitFor();
  await screenshot(page, 'accounts-institutions-desktop');
  await page.goto(`${server.url}/people`);
  await page.getByTestId('people-list').waitFor();
  await page.getByTestId('invitations').waitFor();
  await screenshot(page, 'accounts-people-desktop');
  await page.goto(`${server.url}/audit`);
  await page.getByTestId('audit-table').waitFor();
  await screenshot(page, 'accounts-audit-desktop');

  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${server.url}/`);
  await page.getByTestId('dash-labs').waitFor();
  await noHorizontalScroll(page, 'dashboard');
  await screenshot(page, 'accounts-dashboard-admin-360');
  await page.goto(`${server.url}/institutions`);
  await page.getByTestId('institution-tree').getByText('宕昌县计量检定所').waitFor();
  await noHorizontalScroll(page, '/institutions');
  await screenshot(page, 'accounts-institutions-360');
  await page.getByTestId('manage-institution').nth(1).click();
  await page.getByTestId('add-child').click();
  await page.getByTestId('add-child-form').waitFor();
  await noHorizontalScroll(page, '/institutions with a form open');
  await screenshot(page, 'accounts-institutions-form-360');
  await page.goto(`${server.url}/people`);
  await page.getByTestId('people-list').waitFor();
  await noHorizontalScroll(page, '/people');
  await page.getByTestId('open-invite').click();
  await page.getByTestId('invite-form').waitFor();
  await noHorizontalScroll(page, '/people with the invite form open');
  await screenshot(page, 'accounts-people-360');
  await page.goto(`${server.url}/audit`);
  await page.getByTestId('audit-table').waitFor();
  await noHorizontalScroll(page, '/audit');
  await screenshot(page, 'accounts-audit-360');
  await logout(page);

  await login(page, 'tech');
  await page.getByTestId('dash-colleagues').getByText('吴晓燕').waitFor();
  await noHorizontalScroll(page, 'technician dashboard');
  await screenshot(page, 'accounts-dashboard-tech-360');
  await logout(page);

  // The pages people reach before they have an account fit too.
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-form').waitFor();
  await noHorizontalScroll(page, '/login');
  await screenshot(page, 'accounts-login-360');
  const admin = await apiSession('admin');
  const invitation = await admin.post('/api/v1/invitations', {
    display_name: '窄屏测试', email: 'narrow-screen@example.cn',
    institution_id: ids['秦安县计量检定所'], roles: ['trainee'],
  });
  await page.goto(invitation.link);
  await page.getByTestId('accept-form').waitFor();
  await noHorizontalScroll(page, 'an invitation link');
  const { items: [person] } = await admin.get('/api/v1/users?q=wen.tech');
  const reset = await admin.post(`/api/v1/users/${person.id}/password-reset`);
  await page.goto(reset.link);
  await page.getByTestId('reset-password-form').waitFor();
  await noHorizontalScroll(page, 'a password-reset link');
  await screenshot(page, 'accounts-reset-360');
  await page.setViewportSize({ width: 1280, height: 800 });
});
