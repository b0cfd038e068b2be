// The chat itself: accounts through the forms, streaming, Stop (and the server freeing the
// slot), regenerate, edit and resend, copy, and conversations surviving a reload.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BASE,
  health,
  lastAssistant,
  launch,
  logIn,
  marker,
  openPage,
  send,
  setSettings,
  signUp,
  waitFor,
  waitReady,
  waitReply,
  closeClean,
} from './helpers.mjs';

const LONG_STORY = 'Write a very long story about a dragon and a knight, with many chapters.';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('sign up through the form, log out, log in again', async () => {
  const { context, page, seen } = await openPage(browser);
  const email = await signUp(page);
  assert.equal(await page.locator('meta[name="sotto-user"]').getAttribute('content'), email);
  await Promise.all([page.waitForURL(BASE + '/login'), page.click('.topbar button:has-text("Log out")')]);
  await page.goto(BASE + '/');
  assert.equal(page.url(), BASE + '/login', 'after log-out the chat page sends to the login page');
  await logIn(page, email);
  await closeClean(context, seen);
});

test('a reply streams in, Stop and Esc abort it and the server frees the slot', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  // Greedy, so the long story reliably runs long enough to be stopped mid-way.
  await setSettings(page, { maxTokens: 1500, temperature: 0 });
  const before = await health();

  await send(page, LONG_STORY);
  const reply = lastAssistant(page);
  await page.waitForSelector('article.msg-assistant[data-state="streaming"]');
  assert.ok(await page.locator('#stop').isVisible(), 'Stop shows while the reply streams');
  // Sample the streaming text: it must grow over time, before the reply is over.
  const lengths = [];
  await waitFor(
    async () => {
      lengths.push((await reply.locator('.msg-body').innerText()).length);
      const growing = new Set(lengths.filter((n) => n > 0)).size;
      return growing >= 3 && lengths[lengths.length - 1] > 40;
    },
    'the streaming reply to grow',
    120_000,
  );
  assert.equal(await reply.getAttribute('data-state'), 'streaming', 'still streaming when sampled');
  for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i] >= lengths[i - 1], `text only grows: ${lengths}`);

  await page.click('#stop');
  await page.waitForSelector('article.msg-assistant[data-state="stopped"]');
  const stoppedText = await reply.locator('.msg-body').innerText();
  assert.ok(stoppedText.length > 0, 'the partial reply is kept');
  assert.ok(await page.locator('#send').isVisible(), 'Send is back after Stop');
  await waitFor(async () => {
    const now = await health();
    return now.in_flight === 0 && now.cancelled > before.cancelled;
  }, 'the server to free the slot (in_flight 0, cancelled up)');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await reply.locator('.msg-body').innerText(), stoppedText, 'nothing arrives after Stop');

  // Esc does the same (in a new chat, which inherits the settings, so the context stays short).
  const middle = await health();
  await page.click('#new-chat');
  await send(page, LONG_STORY);
  await page.waitForFunction(
    () => {
      const last = [...document.querySelectorAll('article.msg-assistant')].pop();
      return last && last.dataset.state === 'streaming' && last.querySelector('.msg-body').innerText.length > 20;
    },
    null,
    { timeout: 120_000 },
  );
  await page.keyboard.press('Escape');
  await page.waitForSelector('article.msg-assistant:last-of-type[data-state="stopped"]');
  await waitFor(async () => {
    const now = await health();
    return now.in_flight === 0 && now.cancelled > middle.cancelled;
  }, 'the slot to be freed after Esc');

  // The next message is answered.
  await setSettings(page, { maxTokens: 40 });
  await send(page, 'Say hello.');
  assert.match(await waitReply(page), /^(stop|length)$/);
  assert.ok((await lastAssistant(page).locator('.msg-body').innerText()).length > 0);
  assert.equal(await page.locator('article.msg').count(), 4);
  assert.equal(await page.locator('.conversation-item').count(), 2);
  await closeClean(context, seen);
});

test('regenerate, edit and resend, copy', async () => {
  const { context, page, seen } = await openPage(browser);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await signUp(page);
  await setSettings(page, { maxTokens: 32 });

  await send(page, 'Name a colour.');
  await waitReply(page);
  const firstId = await lastAssistant(page).getAttribute('data-id');
  await lastAssistant(page).getByRole('button', { name: 'Regenerate' }).click();
  await waitReply(page);
  assert.equal(await page.locator('article.msg-assistant').count(), 1, 'regenerate replaces the last answer');
  assert.notEqual(await lastAssistant(page).getAttribute('data-id'), firstId);

  await send(page, 'Name an animal.');
  await waitReply(page);
  assert.equal(await page.locator('article.msg').count(), 4);

  // Edit the first message: everything after it is replaced by the new answer.
  const first = page.locator('article.msg-user').first();
  await first.getByRole('button', { name: 'Edit' }).click();
  await first.locator('textarea.edit-area').fill('Name a fruit.');
  await first.getByRole('button', { name: 'Save and send' }).click();
  await waitReply(page);
  assert.equal(await page.locator('article.msg').count(), 2, 'edit and resend truncates after the edited message');
  assert.equal(await page.locator('article.msg-user .msg-body').innerText(), 'Name a fruit.');

  // Copy puts the message's markdown on the clipboard.
  await page.locator('article.msg-user').getByRole('button', { name: 'Copy' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'Name a fruit.');
  await closeClean(context, seen);
});

test('conversations survive a reload; new, rename, search, delete', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 24 });
  const word = marker('Zebra');
  await send(page, `Tell me about ${word}.`);
  await waitReply(page);

  await page.click('#new-chat');
  assert.equal(await page.locator('article.msg').count(), 0, 'a new chat starts empty');
  await send(page, 'What is two plus two?');
  await waitReply(page);
  assert.equal(await page.locator('.conversation-item').count(), 2);
  assert.match(await page.locator('.conversation-item').first().innerText(), /two plus two/, 'newest first');

  await page.reload();
  await waitReady(page);
  assert.equal(await page.locator('.conversation-item').count(), 2, 'both conversations are still listed');
  assert.equal(await page.locator('article.msg').count(), 2, 'the newest conversation is open again');

  // Search looks into content, not only titles.
  await page.fill('#search', word.toLowerCase());
  await waitFor(async () => (await page.locator('.conversation-item').count()) === 1, 'search to filter');
  await page.locator('.conversation-open').first().click();
  assert.match(await page.locator('article.msg-user').first().innerText(), new RegExp(word));
  await page.fill('#search', 'no such words anywhere');
  await page.waitForSelector('#conversation-empty:not([hidden])');
  await page.fill('#search', '');

  // Rename, then delete (with confirmation).
  const item = page.locator('.conversation-item', { hasText: word });
  await item.locator('.conversation-rename').click();
  await page.fill('#dialog [name="title"]', 'Renamed chat');
  await page.click('#dialog-ok');
  await page.waitForSelector('.conversation-item:has-text("Renamed chat")');
  assert.equal(await page.locator('#conversation-title').innerText(), 'Renamed chat');
  await page.reload();
  await waitReady(page);
  await page.waitForSelector('.conversation-item:has-text("Renamed chat")');
  await page.locator('.conversation-item', { hasText: 'Renamed chat' }).locator('.conversation-delete').click();
  await page.click('#dialog-ok');
  await waitFor(async () => (await page.locator('.conversation-item').count()) === 1, 'the deletion');
  await page.reload();
  await waitReady(page);
  assert.equal(await page.locator('.conversation-item').count(), 1, 'the deletion is stored');
  await closeClean(context, seen);
});
