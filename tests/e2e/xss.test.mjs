// Hostile text renders inertly: typed by the user, echoed by the model, or brought in by an
// imported file. No script runs (a window flag stays unset, no dialog opens, the CSP reports
// nothing it had to block) and no request leaves the origin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertSameOrigin,
  conversation,
  importConversations,
  launch,
  openPage,
  send,
  setSettings,
  signUp,
  waitReply,
} from './helpers.mjs';

const PAYLOADS = [
  '<img src=x onerror="window.__xss=1;alert(1)">',
  '<script>window.__xss=2;alert(2)</script>',
  '[click me](javascript:window.__xss=3)',
  '<a href="javascript:window.__xss=4">raw link</a>',
  '![remote image](http://example.invalid/a.png)',
  '<img src="http://example.invalid/b.png" srcset="http://example.invalid/c.png 2x">',
  '<iframe src="http://example.invalid/frame"></iframe>',
  '<svg onload="window.__xss=5"><circle r="1"/></svg>',
  '<style>body{background:url(http://example.invalid/d.png)}</style>',
  '[data link](data:text/html,<script>window.__xss=6</script>)',
  '<form action="http://example.invalid/f"><button formaction="javascript:window.__xss=7">go</button></form>',
  '<details open ontoggle="window.__xss=8">details</details>',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=9">',
  '![also remote](//example.invalid/e.png)',
  '[external link](http://example.invalid/page)',
  '```html\n<script>window.__xss=10</script>\n```',
  '| a | b |\n| - | - |\n| <img src=x onerror="window.__xss=11"> | ![t](http://example.invalid/t.png) |',
].join('\n\n');

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** What the rendered conversation contains that it must not. */
function inspect(page) {
  return page.evaluate(() => {
    const root = document.getElementById('messages');
    // The answers, the thinking above them and the tool calls below them.
    const bodies = [...root.querySelectorAll('.msg-body, .msg-thinking-body, .msg-tools')];
    const inBodies = (selector) => bodies.flatMap((b) => [...b.querySelectorAll(selector)]);
    const handlers = [...document.querySelectorAll('*')].filter((el) =>
      [...el.attributes].some((a) => a.name.startsWith('on')),
    );
    return {
      flag: window.__xss,
      dangerous: inBodies(
        'script, iframe, frame, object, embed, form, style, link, meta, base, svg, math, input, button:not(.codeblock-copy)',
      ).map((e) => e.outerHTML),
      handlers: handlers.map((e) => e.outerHTML.slice(0, 200)),
      images: inBodies('img').map((img) => img.getAttribute('src')),
      links: inBodies('a').map((a) => ({ href: a.getAttribute('href'), target: a.target, rel: a.rel })),
      styled: inBodies('[style]').length,
      blocked: inBodies('.blocked-image').length,
      text: bodies.map((b) => b.innerText).join('\n'),
    };
  });
}

function assertInert(found, seen) {
  assert.equal(found.flag, undefined, 'no injected script ran');
  assert.deepEqual(seen.dialogs, [], 'no dialog opened');
  assert.deepEqual(found.dangerous, [], 'no dangerous element was rendered');
  assert.deepEqual(found.handlers, [], 'no inline event handler anywhere on the page');
  assert.equal(found.styled, 0, 'no style attribute');
  for (const src of found.images)
    assert.ok(src === null || src.startsWith('data:image/') || src.startsWith('/'), `image source ${src}`);
  for (const link of found.links) {
    if (link.href === null) continue;
    assert.match(link.href, /^(https?:|mailto:)/, `link scheme of ${link.href}`);
    assert.equal(link.target, '_blank');
    assert.equal(link.rel, 'noopener noreferrer');
  }
  assert.ok(found.blocked >= 2, 'remote images are replaced by a note');
  assert.deepEqual(
    seen.console.filter((m) => /Content Security Policy|Refused to/i.test(m)),
    [],
    'the CSP had nothing to block',
  );
  assert.deepEqual(seen.errors, []);
  assertSameOrigin(seen.requests);
}

test('hostile markdown and HTML typed by the user (and echoed by the model) is inert', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  await setSettings(page, { maxTokens: 24, system: 'Repeat the user message exactly.' });
  await send(page, PAYLOADS);
  await waitReply(page);
  const found = await inspect(page);
  assertInert(found, seen);
  // Raw HTML is shown as text, so the user sees what they typed.
  assert.match(found.text, /<script>window.__xss=2;alert\(2\)<\/script>/);
  assert.ok(
    found.links.some((l) => l.href === 'http://example.invalid/page'),
    'an ordinary link stays a link',
  );
  // Clicking the neutralised javascript: link does nothing.
  await page.locator('.msg-user a', { hasText: 'click me' }).click();
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assertSameOrigin(seen.requests);
  await context.close();
});

test('a crafted import file renders inertly, in messages, titles and personas', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  const title = '<img src=x onerror="window.__xss=20"> title';
  await importConversations(
    page,
    [
      conversation('crafted-1', title, [
        ['user', 'Show me things.'],
        ['assistant', PAYLOADS],
        ['user', PAYLOADS],
      ]),
    ],
    [
      {
        id: 'persona-1',
        name: '<script>window.__xss=21</script>',
        prompt: '<img src=x onerror="window.__xss=22">',
        updatedAt: 1,
      },
    ],
  );
  assert.equal(await page.locator('.conversation-title').first().innerText(), title, 'titles are text');
  const found = await inspect(page);
  assertInert(found, seen);
  await page.click('#open-personas');
  await page.waitForSelector('#dialog[open] .persona');
  assert.match(await page.locator('#dialog .persona').innerText(), /<script>/);
  await page.click('#dialog-cancel');
  await page.click('#toggle-settings');
  await page.selectOption('#setting-persona', 'persona-1');
  assert.equal(await page.locator('#setting-system').inputValue(), '<img src=x onerror="window.__xss=22">');
  assertInert(await inspect(page), seen);
  await context.close();
});

test('hostile thinking and tool calls in an imported reply render inertly', async () => {
  const { context, page, seen } = await openPage(browser);
  await signUp(page);
  const name = '<img src=x onerror="window.__xss=30">';
  const now = Date.now();
  await importConversations(page, [
    {
      id: 'crafted-parts',
      title: 'Parts',
      createdAt: now,
      updatedAt: now,
      settings: {},
      messages: [
        { id: 'p-0', role: 'user', content: 'Go.', createdAt: now },
        {
          id: 'p-1',
          role: 'assistant',
          content: null,
          finish: 'tool_calls',
          reasoning: PAYLOADS,
          toolCalls: [
            { id: 'c1', name, arguments: JSON.stringify({ html: PAYLOADS }) },
            { id: 'c2', name: 'raw', arguments: PAYLOADS },
          ],
          createdAt: now + 1,
        },
      ],
    },
  ]);
  await page.click('article.msg-assistant details.msg-thinking summary');
  const found = await inspect(page);
  assertInert(found, seen);
  assert.equal(await page.locator('.tool-call-name').first().textContent(), name, 'a tool name is text');
  const args = await page.locator('.tool-call-args').allTextContents();
  assert.ok(args[0].includes('<script>window.__xss=2;alert(2)</script>'), 'JSON arguments are text');
  assert.ok(args[1].startsWith('<img src=x onerror='), 'other arguments are text as written');
  assert.match(found.text, /<script>window.__xss=2;alert\(2\)<\/script>/, 'hostile thinking shows as text');
  await context.close();
});
