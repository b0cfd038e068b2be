// Failures shown in the conversation in plain words, each with the way forward: Retry for a
// loading model, a busy server, a context too long, a broken stream and a lost network; "Log
// in again" for an ended session; "Reload" for a stale page. Each is caused for real (the
// second server, LIMITS, allows one request at a time per caller and has a model that loads
// on its first chat; a proxy cuts a real reply's connection), except the server's own
// mid-stream error event, which is mocked (see there why).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import {
  BASE,
  LIMITS,
  LOADING_MODEL,
  closeClean,
  health,
  launch,
  openPage,
  send,
  setSettings,
  signUp,
  uniqueEmail,
  waitFor,
  waitReply,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const errorBox = (page) => page.locator('#messages .msg-error');

/** Chromium logs each refused request as a console error: the scenario expects these. */
function expectStatus(seen, ...statuses) {
  for (const status of statuses)
    seen.allowConsole.push(new RegExp(`Failed to load resource: the server responded with a status of ${status}`));
}

async function retryAndWait(page) {
  await errorBox(page).getByRole('button', { name: 'Retry' }).click();
  await waitReply(page);
  assert.equal(await errorBox(page).count(), 0, 'the error goes away once answered');
}

test('a model that is still loading (a real 503 model_loading) offers Retry, which works once it is loaded', async () => {
  const { context, page, seen } = await openPage(browser);
  expectStatus(seen, 503);
  await signUp(page, uniqueEmail(), LIMITS);
  assert.equal((await health(LIMITS, LOADING_MODEL)).state, 'not_loaded', 'no chat has asked for it yet');
  await setSettings(page, { model: LOADING_MODEL, maxTokens: 16 });
  await send(page, 'Hello there.');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'loading');
  assert.match(await errorBox(page).innerText(), /still loading[\s\S]*about 2 seconds/);
  assert.equal(await page.locator('article.msg-assistant').count(), 0, 'no empty answer is left behind');
  await waitFor(async () => (await health(LIMITS, LOADING_MODEL)).state === 'ready', 'the model to load', 120_000);
  await retryAndWait(page);
  await closeClean(context, seen, LIMITS);
});

test('a second request while one runs (a real 429 from the per-caller cap) says busy; Retry works after', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page, uniqueEmail(), LIMITS);
  // Greedy and long, so the first reply is still streaming when the second tab asks.
  await setSettings(page, { maxTokens: 1500, temperature: 0 });
  await send(page, 'Write a very long story about a dragon and a knight, with many chapters.');
  await page.waitForSelector('article.msg-assistant[data-state="streaming"]', { timeout: 120_000 });

  // The same session in a second tab: the same caller, whose one place is taken.
  const other = await context.newPage();
  await other.goto(LIMITS + '/');
  await other.waitForSelector('#app[data-state="ready"]');
  await other.click('#new-chat');
  await setSettings(other, { maxTokens: 16 });
  expectStatus(seen, 429);
  await send(other, 'Are you free?');
  await errorBox(other).waitFor();
  assert.equal(await errorBox(other).getAttribute('data-kind'), 'busy');
  assert.match(await errorBox(other).innerText(), /busy[\s\S]*about 1 second\./);

  await page.click('#stop');
  await page.waitForSelector('article.msg-assistant[data-state="stopped"]');
  await waitFor(async () => (await health(LIMITS)).in_flight === 0, 'the first request to end');
  await retryAndWait(other);
  await closeClean(context, seen, LIMITS);
});

test('a broken stream and a context too long offer Retry', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 16 });

  // A stream that fails half-way: the partial answer is kept until Retry replaces it. Mocked:
  // the server sends this final error event only when the engine fails while decoding, which
  // nothing outside the process can cause. A real reply whose connection is cut is the
  // scenario after next.
  // A stream that fails half-way: the partial answer is kept until Retry replaces it.
  const chunk = (content) =>
    `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
  await page.route(
    '**/ui/chat/completions',
    (route) =>
      route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body:
          chunk('Partial ') +
          chunk('answer') +
          `data: ${JSON.stringify({ error: { message: 'The generation failed.', type: 'server_error', param: null, code: 'generation_failed' } })}\n\n`,
      }),
    { times: 1 },
  );
  await send(page, 'One more.');
  await errorBox(page).waitFor();
  assert.equal(await page.locator('article.msg-assistant').last().getAttribute('data-state'), 'error');
  assert.equal(await page.locator('article.msg-assistant').last().locator('.msg-body').innerText(), 'Partial answer');
  const before = await page.locator('article.msg-assistant').count();
  await retryAndWait(page);
  assert.equal(await page.locator('article.msg-assistant').count(), before, 'Retry replaces the broken answer');

  // A real 400 context_length_exceeded: max tokens beyond the server's context (2048).
  expectStatus(seen, 400);
  await setSettings(page, { maxTokens: 4000 });
  await send(page, 'Too long a request.');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'context');
  assert.match(await errorBox(page).innerText(), /too long for the model/);
  await setSettings(page, { maxTokens: 16 });
  await retryAndWait(page);
  await closeClean(context, seen);
});

/**
 * A TCP proxy in front of `target` that cuts the connection of the first chat reply once a few
 * chunks of it have passed, as a dropped connection would. Resolves to its base URL; the page
 * at that URL is the real server's (the Host check allows loopback names on any port).
 */
function cuttingProxy(target) {
  const { hostname, port } = new URL(target);
  let cut = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    let chat = false;
    let streamed = '';
    client.on('data', (data) => {
      if (data.toString('latin1').startsWith('POST /ui/chat/completions')) chat = !cut;
      upstream.write(data);
    });
    upstream.on('data', (data) => {
      client.write(data);
      if (!chat) return;
      streamed += data.toString('latin1');
      if ((streamed.match(/"content":"[^"]/g) || []).length >= 4) {
        cut = true;
        chat = false;
        client.destroy();
        upstream.destroy();
      }
    });
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ base: `http://127.0.0.1:${server.address().port}`, server }));
  });
}

test('a real reply whose connection is cut keeps what arrived, and Retry replaces it', async () => {
  const proxy = await cuttingProxy(LIMITS);
  try {
    const { context, page, seen } = await openPage(browser);
    seen.allowConsole.push(/net::ERR_/);
    await signUp(page, uniqueEmail(), proxy.base);
    await setSettings(page, { maxTokens: 300, temperature: 0 });
    await send(page, 'Write a long story about a dragon and a knight.');
    await errorBox(page).waitFor({ timeout: 120_000 });
    assert.equal(await errorBox(page).getAttribute('data-kind'), 'network');
    assert.match(await errorBox(page).innerText(), /connection/);
    const broken = page.locator('article.msg-assistant').last();
    assert.equal(await broken.getAttribute('data-state'), 'error');
    assert.ok((await broken.locator('.msg-body').innerText()).trim().length > 0, 'the partial answer is kept');
    await waitFor(async () => (await health(LIMITS)).in_flight === 0, 'the server to stop the cut generation');
    await setSettings(page, { maxTokens: 16 });
    await retryAndWait(page);
    assert.equal(await page.locator('article.msg-assistant').count(), 1, 'Retry replaces the broken answer');
    await closeClean(context, seen, proxy.base);
  } finally {
    proxy.server.close();
  }
});

test('a lost network is reported, and Retry works once it is back', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 16 });
  seen.allowConsole.push(/net::ERR_INTERNET_DISCONNECTED/);
  await context.setOffline(true);
  await send(page, 'Are you there?');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'network');
  assert.match(await errorBox(page).innerText(), /connection to the server was lost/);
  await context.setOffline(false);
  await retryAndWait(page);
  await closeClean(context, seen);
});

test('an ended session asks to log in again; a stale page asks to reload', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 16 });

  expectStatus(seen, 401, 403);
  // A stale anti-CSRF token (as after the session changed in another tab): 403 → reload.
  await page.evaluate(() => {
    document.querySelector('meta[name="sotto-csrf"]').content = 'stale';
  });
  await send(page, 'First question.');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'csrf');
  assert.match(await errorBox(page).innerText(), /out of date[\s\S]*Reload/);
  await Promise.all([
    page.waitForEvent('load'),
    errorBox(page).getByRole('button', { name: 'Reload the page' }).click(),
  ]);
  await page.waitForSelector('#app[data-state="ready"]');
  // The question survived the reload and can still be answered.
  await page.getByRole('button', { name: 'Get a reply' }).click();
  await waitReply(page);

  // Log out in another tab: the session ends on the server, this page gets a 401.
  const other = await context.newPage();
  await other.goto(BASE + '/');
  await Promise.all([other.waitForURL(BASE + '/login'), other.click('.topbar button:has-text("Log out")')]);
  await other.close();
  await send(page, 'Still there?');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'session');
  assert.match(await errorBox(page).innerText(), /session has ended/);
  assert.equal(await errorBox(page).getByRole('link', { name: 'Log in again' }).getAttribute('href'), '/login');
  assert.equal(await errorBox(page).getByRole('button', { name: 'Retry' }).count(), 0);
  await closeClean(context, seen);
});
