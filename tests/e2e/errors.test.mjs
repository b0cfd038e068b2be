// Failures shown in the conversation in plain words, each with the way forward: Retry for a
// loading model, a full queue, a context too long, a broken stream and a lost network; "Log in
// again" for an ended session; "Reload" for a stale page. Real server errors where the test can
// cause them for real, a mocked response (with the server's exact error body) where it cannot.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE, launch, openPage, send, setSettings, signUp, waitReply, closeClean } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const errorBox = (page) => page.locator('#messages .msg-error');

function openAiError(status, code, message, retryAfter) {
  return {
    status,
    headers: Object.assign(
      { 'content-type': 'application/json' },
      retryAfter ? { 'retry-after': String(retryAfter) } : {},
    ),
    body: JSON.stringify({
      error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code },
    }),
  };
}

async function retryAndWait(page) {
  await errorBox(page).getByRole('button', { name: 'Retry' }).click();
  await waitReply(page);
  assert.equal(await errorBox(page).count(), 0, 'the error goes away once answered');
}

test('model loading, queue full, context too long and a broken stream offer Retry', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 16 });

  // 503 model_loading, as the server sends it while a model loads.
  await page.route(
    '**/ui/chat/completions',
    (route) => route.fulfill(openAiError(503, 'model_loading', 'The model is loading.', 7)),
    { times: 1 },
  );
  await send(page, 'Hello there.');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'loading');
  assert.match(await errorBox(page).innerText(), /still loading[\s\S]*about 7 seconds/);
  assert.equal(await page.locator('article.msg-assistant').count(), 0, 'no empty answer is left behind');
  await retryAndWait(page);

  // 429 queue_full.
  await page.route(
    '**/ui/chat/completions',
    (route) => route.fulfill(openAiError(429, 'queue_full', 'The queue is full.', 3)),
    { times: 1 },
  );
  await send(page, 'And again.');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'busy');
  assert.match(await errorBox(page).innerText(), /busy[\s\S]*about 3 seconds/);
  await retryAndWait(page);

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
  await setSettings(page, { maxTokens: 4000 });
  await send(page, 'Too long a request.');
  await errorBox(page).waitFor();
  assert.equal(await errorBox(page).getAttribute('data-kind'), 'context');
  assert.match(await errorBox(page).innerText(), /too long for the model/);
  await setSettings(page, { maxTokens: 16 });
  await retryAndWait(page);
  await closeClean(context, seen);
});

test('a lost network is reported, and Retry works once it is back', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 16 });
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
