// The parts of a reply besides its text: a reasoning model's thinking (on the server whose
// template makes the default model think first), tool calls and a JSON answer (imported, as
// the page sends no tools). Each renders readably, is stored like the text, and the thinking
// never goes back to the server with the next question.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import {
  BASE,
  THINKING,
  closeClean,
  importConversations,
  launch,
  lastAssistant,
  openDataPanel,
  openPage,
  rawStorage,
  screenshotPath,
  send,
  setSettings,
  signUp,
  waitReady,
  waitReply,
} from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The JSON bodies the page posts to /ui/chat/completions, in order. */
function chatRequests(page) {
  const bodies = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/ui/chat/completions') {
      bodies.push(JSON.parse(request.postData() || 'null'));
    }
  });
  return bodies;
}

/** What the last reply shows: its Thinking block (folded or not, its text) and its answer. */
function lastReply(page) {
  return lastAssistant(page).evaluate((article) => {
    const details = article.querySelectorAll('details.msg-thinking');
    const block = details[0];
    return {
      blocks: details.length,
      open: block ? block.open : null,
      summary: block ? block.querySelector('summary').textContent : null,
      thinking: block ? block.querySelector('.msg-thinking-body').textContent.trim() : '',
      thinkingAboveAnswer: block
        ? Boolean(block.compareDocumentPosition(article.querySelector('.msg-body')) & 4)
        : null,
      answer: article.querySelector('.msg-body').textContent,
    };
  });
}

test('a reasoning model thinks in a folded Thinking block, kept after a reload and never sent back', async () => {
  const { context, page, seen } = await openPage(browser);
  const requests = chatRequests(page);
  await signUp(page, undefined, THINKING);
  await setSettings(page, { maxTokens: 48, temperature: 0 });
  await send(page, 'What is two plus two?');
  await waitReply(page);

  const reply = await lastReply(page);
  assert.equal(reply.blocks, 1, 'one Thinking block');
  assert.equal(reply.open, false, 'folded by default');
  assert.equal(reply.summary, 'Thinking');
  assert.ok(reply.thinking.length > 0, 'the block holds the thinking');
  assert.ok(reply.thinkingAboveAnswer, 'above the answer');
  assert.ok(!reply.answer.includes(reply.thinking), 'the answer area does not hold the thinking');
  assert.ok(
    !(await lastAssistant(page).locator('.msg-thinking-body').isVisible()),
    'the thinking is hidden while folded',
  );
  await lastAssistant(page).locator('details.msg-thinking summary').click();
  assert.ok(await lastAssistant(page).locator('.msg-thinking-body').isVisible(), 'a click unfolds it');
  assert.ok((await rawStorage(page)).includes('"reasoning"'), 'stored with the conversation');

  await page.reload();
  await waitReady(page);
  const reloaded = await lastReply(page);
  assert.equal(reloaded.blocks, 1, 'the Thinking block is still there after a reload');
  assert.equal(reloaded.open, false, 'and folded');
  assert.equal(reloaded.thinking, reply.thinking, 'with the same text');

  // The next question carries the earlier answer's content only.
  await send(page, 'And three plus three?');
  await waitReply(page);
  assert.equal(requests.length, 2);
  const sent = JSON.stringify(requests[1].messages);
  assert.ok(!sent.includes(reply.thinking), 'the thinking is not sent back');
  for (const message of requests[1].messages) {
    assert.deepEqual(Object.keys(message).sort(), ['content', 'role'], 'only role and content');
  }
  await closeClean(context, seen, THINKING);
});

const WEATHER_ARGUMENTS = '{"city":"Paris","days":[1,2],"units":{"temperature":"celsius"}}';
const JSON_REPLY = '{"answer":42,"steps":["add","check"],"exact":true}';

function toolConversation() {
  const now = Date.now();
  const message = (i, role, content, extra = {}) => ({ id: `tools-${i}`, role, content, createdAt: now + i, ...extra });
  return {
    id: 'tools-1',
    title: 'Weather and JSON',
    createdAt: now,
    updatedAt: now,
    settings: { maxTokens: 8, temperature: 0 },
    messages: [
      message(0, 'user', 'What is the weather in Paris?'),
      message(1, 'assistant', null, {
        finish: 'tool_calls',
        toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: WEATHER_ARGUMENTS }],
      }),
      message(2, 'user', 'Answer in JSON.'),
      message(3, 'assistant', JSON_REPLY, { finish: 'stop', reasoning: 'PRIVATE-THOUGHT about the answer' }),
    ],
  };
}

test('an imported tool call and JSON reply render readably; only content is sent back', async () => {
  const { context, page, seen } = await openPage(browser);
  const requests = chatRequests(page);
  await signUp(page);
  await importConversations(page, [toolConversation()]);

  const call = page.locator('article.msg-assistant .tool-call');
  assert.equal(await call.count(), 1, 'one tool call');
  assert.equal(await call.locator('.tool-call-name').textContent(), 'get_weather');
  assert.equal(
    await call.locator('.tool-call-args').textContent(),
    JSON.stringify(JSON.parse(WEATHER_ARGUMENTS), null, 2),
    'arguments pretty-printed',
  );

  // Copy on a reply that only called a tool puts the call on the clipboard, readably.
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await page.locator('article.msg-assistant').first().getByRole('button', { name: 'Copy' }).click();
  assert.equal(
    await page.evaluate(() => navigator.clipboard.readText()),
    'get_weather\n' + JSON.stringify(JSON.parse(WEATHER_ARGUMENTS), null, 2),
  );

  const answer = lastAssistant(page).locator('.msg-body');
  assert.equal(await answer.locator('.codeblock').count(), 1, 'the JSON reply is one code block');
  assert.equal(await answer.locator('.codeblock-lang').textContent(), 'json');
  assert.equal(
    await answer.locator('pre code').textContent(),
    JSON.stringify(JSON.parse(JSON_REPLY), null, 2),
    'pretty-printed',
  );
  const thinking = lastAssistant(page).locator('details.msg-thinking');
  assert.equal(await thinking.count(), 1);
  assert.equal(await thinking.evaluate((d) => d.open), false);
  await page.screenshot({ path: screenshotPath('reply-parts.png') });

  // The export carries the calls and the thinking as they came in.
  await openDataPanel(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  await page.click('#dialog-cancel');
  const original = toolConversation().messages;
  const [copy] = exported.conversations;
  assert.deepEqual(copy.messages[1].toolCalls, original[1].toolCalls, 'tool calls exported');
  assert.equal(copy.messages[1].finish, 'tool_calls');
  assert.equal(copy.messages[3].reasoning, original[3].reasoning, 'thinking exported');

  await send(page, 'Thanks.');
  await waitReply(page);
  assert.equal(requests.length, 1);
  const messages = requests[0].messages;
  assert.deepEqual(
    messages.map((m) => m.role),
    ['user', 'user', 'assistant', 'user'],
    'the reply that only called a tool is left out',
  );
  assert.equal(messages[2].content, JSON_REPLY, 'the JSON reply goes back as the model wrote it');
  assert.ok(!JSON.stringify(messages).includes('PRIVATE-THOUGHT'), 'the thinking is not sent back');
  await closeClean(context, seen, BASE);
});
