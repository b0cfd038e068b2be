// What the README promises of the chat page and no other file checks: a code block's Copy
// button, tables and lists in replies, Enter and Shift+Enter, and each conversation's own model
// and temperature. Replies the tiny model cannot be made to write are imported (an export file
// goes through the same markdown rendering as a streamed reply).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BASE,
  LIMITS,
  SECOND_MODEL,
  closeClean,
  conversation,
  health,
  importConversations,
  launch,
  lastAssistant,
  openPage,
  send,
  setSettings,
  signUp,
  uniqueEmail,
  waitFor,
  waitReply,
} from './helpers.mjs';

const CODE = `def greet(name: str) -> str:
    """Say hello, politely."""
    return f"Hello, {name} & <friends>!"`;

const REPLY = `Some code:

\`\`\`python
${CODE}
\`\`\`

| Fruit | Colour |
|---|---|
| Apple | Red |
| Banana | Yellow |

- first bullet
- second bullet
- third bullet

1. step one
2. step two`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The JSON bodies of every chat request the page sends, read as they go (not altered). */
function recordChats(page) {
  const bodies = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/ui/chat/completions')) bodies.push(request.postDataJSON());
  });
  return bodies;
}

test('a code block’s Copy button puts exactly its code on the clipboard', async () => {
  const { context, page, seen } = await openPage(browser);
  // The real clipboard: Chromium lets the page write to it once permission is granted, and the
  // test reads it back from the page.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await signUp(page);
  await importConversations(page, [
    conversation('code', 'Code to copy', [
      ['user', 'Show me code.'],
      ['assistant', REPLY],
    ]),
  ]);
  await page.locator('.conversation-open', { hasText: 'Code to copy' }).click();
  const block = lastAssistant(page).locator('.codeblock');
  assert.equal(await block.count(), 1);
  await block.locator('.hljs-keyword').first().waitFor();
  await page.evaluate(() => navigator.clipboard.writeText('nothing copied yet'));
  await block.locator('.codeblock-copy').click();
  await waitFor(
    async () => (await page.evaluate(() => navigator.clipboard.readText())) !== 'nothing copied yet',
    'the copy',
  );
  assert.equal((await page.evaluate(() => navigator.clipboard.readText())).replace(/\n$/, ''), CODE);
  assert.match(await block.locator('.codeblock-copy').innerText(), /Copied/);
  await closeClean(context, seen);
});

test('tables and lists in a reply render as a table and as lists', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await importConversations(page, [
    conversation('tables', 'Tables and lists', [
      ['user', 'A table and lists, please.'],
      ['assistant', REPLY],
    ]),
  ]);
  await page.locator('.conversation-open', { hasText: 'Tables and lists' }).click();
  const body = lastAssistant(page).locator('.msg-body');
  const found = await body.evaluate((root) => ({
    headers: [...root.querySelectorAll('table thead th')].map((th) => th.textContent.trim()),
    rows: [...root.querySelectorAll('table tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()),
    ),
    bullets: [...root.querySelectorAll('ul > li')].map((li) => li.textContent.trim()),
    steps: [...root.querySelectorAll('ol > li')].map((li) => li.textContent.trim()),
    pipes: root.innerText.includes('|---|'),
  }));
  assert.deepEqual(found.headers, ['Fruit', 'Colour']);
  assert.deepEqual(found.rows, [
    ['Apple', 'Red'],
    ['Banana', 'Yellow'],
  ]);
  assert.deepEqual(found.bullets, ['first bullet', 'second bullet', 'third bullet']);
  assert.deepEqual(found.steps, ['step one', 'step two']);
  assert.equal(found.pipes, false, 'no markdown source is left showing');
  await closeClean(context, seen);
});

test('Shift+Enter starts a new line; Enter sends the message with its lines', async () => {
  const { context, page, seen } = await openPage(browser);
  const chats = recordChats(page);
  await signUp(page);
  await setSettings(page, { maxTokens: 8 });
  await page.click('#prompt');
  await page.keyboard.type('First line.');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('Second line.');
  assert.equal(await page.inputValue('#prompt'), 'First line.\nSecond line.', 'Shift+Enter adds a line');
  assert.equal(await page.locator('article.msg').count(), 0, 'and sends nothing');
  assert.equal(chats.length, 0);

  await page.keyboard.press('Enter');
  await waitReply(page);
  assert.equal(await page.inputValue('#prompt'), '', 'Enter sent it and emptied the box');
  assert.equal(chats.length, 1);
  assert.equal(chats[0].messages.at(-1).content, 'First line.\nSecond line.');
  assert.equal(await page.locator('article.msg-user .msg-body').innerText(), 'First line.\nSecond line.');
  await closeClean(context, seen);
});

test('each conversation keeps its own model and temperature, and its requests use them', async () => {
  // The second server has a second model to choose; it loads on its first chat (a 503 first).
  const { context, page, seen } = await openPage(browser);
  seen.allowConsole.push(/Failed to load resource: the server responded with a status of 503/);
  const chats = recordChats(page);
  await signUp(page, uniqueEmail(), LIMITS);

  // Conversation A: the second model, temperature 0.3.
  await setSettings(page, { model: SECOND_MODEL, temperature: 0.3, maxTokens: 8 });
  await send(page, 'Conversation A speaking.');
  const errorBox = page.locator('#messages .msg-error');
  await Promise.race([waitReply(page), errorBox.waitFor({ timeout: 180_000 })]);
  if (await errorBox.count()) {
    assert.equal(await errorBox.getAttribute('data-kind'), 'loading');
    await waitFor(async () => (await health(LIMITS, SECOND_MODEL)).state === 'ready', 'the model to load', 120_000);
    await errorBox.getByRole('button', { name: 'Retry' }).click();
    await waitReply(page);
  }

  // Conversation B: the server's default model, temperature 1.2.
  await page.click('#new-chat');
  await setSettings(page, { model: '', temperature: 1.2, maxTokens: 8 });
  await send(page, 'Conversation B speaking.');
  await waitReply(page);

  const settingsShown = async () => {
    await page.click('#toggle-settings');
    const shown = {
      model: await page.inputValue('#setting-model'),
      temperature: await page.inputValue('#setting-temperature'),
    };
    await page.click('#toggle-settings');
    return shown;
  };
  const open = async (title) => {
    await page.locator('.conversation-open', { hasText: title }).click();
    await page.waitForSelector(`article.msg-user:has-text("${title}")`);
  };

  const sentBefore = chats.length;
  await open('Conversation A');
  assert.deepEqual(await settingsShown(), { model: SECOND_MODEL, temperature: '0.3' });
  await send(page, 'A again.');
  await waitReply(page);
  await open('Conversation B');
  assert.deepEqual(await settingsShown(), { model: '', temperature: '1.2' });
  await send(page, 'B again.');
  await waitReply(page);

  const sent = chats.map((body) => ({
    first: body.messages.find((m) => m.role === 'user').content,
    model: body.model ?? null,
    temperature: body.temperature,
  }));
  assert.ok(sent.length >= 4);
  for (const request of sent) {
    const expected = request.first.startsWith('Conversation A')
      ? { model: SECOND_MODEL, temperature: 0.3 }
      : { model: null, temperature: 1.2 };
    assert.deepEqual({ model: request.model, temperature: request.temperature }, expected, JSON.stringify(request));
  }
  assert.deepEqual(
    sent.slice(sentBefore).map((request) => request.first),
    ['Conversation A speaking.', 'Conversation B speaking.'],
    'after switching back, each conversation sent with its own settings',
  );
  await closeClean(context, seen, LIMITS);
});
