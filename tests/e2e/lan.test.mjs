// The chat over plain HTTP at a LAN name, as a self-hoster reaches the Docker image
// (http://sotto.lan:PORT): no TLS, so no Fetch Metadata, no `Secure` cookies and no secure
// context (no crypto.subtle, no crypto.randomUUID). Chromium resolves the name to 127.0.0.1;
// tests/browser.rs starts the server with `--allowed-hosts sotto.lan`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE, PASSWORD, REPLY_TIMEOUT, closeClean, launch, openPage, uniqueEmail } from './helpers.mjs';

const LAN = `http://sotto.lan:${new URL(BASE).port}`;

let browser;
before(async () => {
  browser = await launch(['--host-resolver-rules=MAP sotto.lan 127.0.0.1']);
});
after(async () => {
  await browser?.close();
});

async function submit(page, action, email) {
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([page.waitForURL(LAN + '/'), page.click(`form[action="${action}"] button[type=submit]`)]);
  await page.waitForSelector('#app[data-state="ready"]');
}

test('at a LAN name over plain HTTP: sign up, log out, log in and chat, warned that it is unencrypted', async () => {
  const { context, page, seen } = await openPage(browser);
  const refused = [];
  page.on('response', (response) => {
    if (response.status() === 403 || response.status() === 421) refused.push(response.url());
  });

  await page.goto(LAN + '/signup');
  assert.ok(
    await page.locator('#insecure-connection').isVisible(),
    'the sign-up page warns the connection is not encrypted',
  );
  assert.equal(
    await page.evaluate(() => window.isSecureContext),
    false,
    'a LAN name over HTTP is not a secure context',
  );
  const email = uniqueEmail();
  await submit(page, '/signup', email);
  assert.ok(await page.locator('#insecure-connection').isVisible(), 'the chat page warns too');
  const cookies = await context.cookies(LAN);
  const session = cookies.find((cookie) => cookie.name === 'sotto');
  assert.ok(session, `a plain session cookie was kept: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(session.secure, false);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');

  await Promise.all([page.waitForURL(LAN + '/login'), page.click('.topbar button:has-text("Log out")')]);
  await submit(page, '/login', email);

  await page.fill('#prompt', 'Say hello.');
  await page.press('#prompt', 'Enter');
  await page.waitForFunction(
    () => {
      const all = document.querySelectorAll('article.msg-assistant');
      const last = all[all.length - 1];
      return last && ['stop', 'length'].includes(last.dataset.state);
    },
    null,
    { timeout: REPLY_TIMEOUT },
  );
  const reply = await page.locator('article.msg-assistant').last().locator('.msg-body').innerText();
  assert.ok(reply.trim().length > 0, 'the model answered');
  assert.deepEqual(refused, [], 'nothing was refused as cross-site or misdirected');
  await closeClean(context, seen, LAN);
});
