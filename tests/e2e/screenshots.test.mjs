// Screenshots of the chat page for people to look at (target/screenshots/): desktop 1280×800
// in light and dark, and a 375×812 phone with the drawer shut and open. The conversation is
// imported (so the pictures do not depend on the model's wording) and then continued live.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertSameOrigin,
  conversation,
  importConversations,
  launch,
  openDrawerIfShut,
  openPage,
  screenshotPath,
  send,
  setSettings,
  signUp,
  waitReply,
} from './helpers.mjs';

const ANSWER = `Here is a function that returns the *n*-th Fibonacci number, iteratively:

\`\`\`python
def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number (fibonacci(0) == 0)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
\`\`\`

It runs in **O(n)** time and constant memory. Some values:

| n | fibonacci(n) |
|---|---|
| 10 | 55 |
| 20 | 6765 |

1. Recursion without memoisation takes exponential time.
2. Use \`functools.lru_cache\` if you prefer the recursive form.`;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function chatWithCode(page) {
  await signUp(page);
  await importConversations(page, [
    conversation('older', 'Trip ideas for the weekend', [
      ['user', 'Any trip ideas?'],
      ['assistant', 'A walk by the lake.'],
    ]),
    conversation('shots', 'Fibonacci in Python', [
      ['user', 'Write a Python function for Fibonacci numbers.'],
      ['assistant', ANSWER],
    ]),
  ]);
  await openDrawerIfShut(page);
  await page.locator('.conversation-open', { hasText: 'Fibonacci' }).click();
  await setSettings(page, { maxTokens: 40 });
  await send(page, 'Thanks! And in one sentence, what is recursion?');
  await waitReply(page);
  await page.waitForSelector('.codeblock .hljs-keyword');
}

for (const [name, colorScheme] of [
  ['desktop', 'light'],
  ['desktop-dark', 'dark'],
]) {
  test(`screenshot: ${name} 1280×800`, async () => {
    const { context, page, seen } = await openPage(browser, { viewport: { width: 1280, height: 800 }, colorScheme });
    await chatWithCode(page);
    await page.locator('#messages').evaluate((box) => {
      box.scrollTop = 0;
    });
    await page.screenshot({ path: screenshotPath(`chat-${name}.png`) });
    assertSameOrigin(seen.requests);
    await context.close();
  });
}

test('screenshot: mobile 375×812, drawer shut and open', async () => {
  const { context, page, seen } = await openPage(browser, {
    viewport: { width: 375, height: 812 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
  await chatWithCode(page);
  await page.locator('#messages').evaluate((box) => {
    box.scrollTop = 0;
  });
  // Nothing may be wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  assert.ok(
    await page.locator('#sidebar').evaluate((el) => el.getBoundingClientRect().right <= 0),
    'the drawer starts shut',
  );
  await page.screenshot({ path: screenshotPath('chat-mobile.png') });
  await page.click('#toggle-sidebar');
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
  await page.waitForTimeout(300);
  await page.screenshot({ path: screenshotPath('chat-mobile-drawer.png') });
  // Choosing a conversation closes the drawer.
  await page.locator('.conversation-open', { hasText: 'Trip ideas' }).click();
  await page.waitForSelector('#sidebar-backdrop[hidden]', { state: 'attached' });
  assert.match(await page.locator('#conversation-title').innerText(), /Trip ideas/);
  assertSameOrigin(seen.requests);
  await context.close();
});
