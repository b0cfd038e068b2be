// Screenshots of the chat page for people to look at (target/screenshots/): desktop 1280×800
// in light and dark, and a 375×812 phone with the drawer shut and open. The conversation is
// imported (so the pictures do not depend on the model's wording) and then continued live.
// Each picture goes with an assertion of what it should show: the theme's colours computed by
// the browser, the phone's drawer and a page no wider than the screen.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  closeClean,
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

/** The relative luminance (0 black … 1 white) of a computed `rgb(…)` colour. */
function luminance(rgb) {
  const [r, g, b] = rgb
    .match(/[\d.]+/g)
    .slice(0, 3)
    .map((c) => {
      const v = Number(c) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The computed colours of the page, the composer's text box and a user message. */
function colours(page) {
  return page.evaluate(() => {
    const css = (selector, property) => getComputedStyle(document.querySelector(selector))[property];
    return {
      page: css('body', 'backgroundColor'),
      text: css('body', 'color'),
      prompt: css('#prompt', 'backgroundColor'),
      user: css('article.msg-user .msg-body', 'backgroundColor'),
    };
  });
}

async function desktop(name, colorScheme) {
  const { context, page, seen } = await openPage(browser, { viewport: { width: 1280, height: 800 }, colorScheme });
  await chatWithCode(page);
  await page.locator('#messages').evaluate((box) => {
    box.scrollTop = 0;
  });
  await page.screenshot({ path: screenshotPath(`chat-${name}.png`) });
  const found = await colours(page);
  assert.ok(await page.locator('#sidebar').isVisible(), 'the sidebar shows beside the chat on a desktop');
  await closeClean(context, seen);
  return found;
}

test('screenshot: desktop 1280×800, a light theme', async () => {
  const found = await desktop('desktop', 'light');
  assert.ok(luminance(found.page) > 0.8, `a light page: ${found.page}`);
  assert.ok(luminance(found.text) < 0.2, `dark text: ${found.text}`);
  assert.ok(luminance(found.user) > 0.6, `a light user message: ${found.user}`);
});

test('screenshot: desktop-dark 1280×800, a dark theme when the system asks for one', async () => {
  const found = await desktop('desktop-dark', 'dark');
  assert.ok(luminance(found.page) < 0.1, `a dark page: ${found.page}`);
  assert.ok(luminance(found.text) > 0.6, `light text: ${found.text}`);
  assert.ok(luminance(found.prompt) < 0.2, `a dark text box: ${found.prompt}`);
  assert.ok(luminance(found.user) < 0.2, `a dark user message: ${found.user}`);
});

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
  // The composer fits the screen: the text box and Send are inside it, side by side.
  const composer = await page.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    return { width: window.innerWidth, composer: box('composer'), prompt: box('prompt'), send: box('send') };
  });
  for (const part of ['composer', 'prompt', 'send']) {
    assert.ok(
      composer[part].left >= 0 && composer[part].right <= composer.width,
      `${part} fits: ${JSON.stringify(composer)}`,
    );
  }
  assert.ok(composer.prompt.width >= composer.width / 2, 'the text box takes most of the width');
  assert.ok(composer.send.left >= composer.prompt.right - 1, 'Send is beside the text box');
  await page.screenshot({ path: screenshotPath('chat-mobile.png') });
  await page.click('#toggle-sidebar');
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
  await page.waitForTimeout(300);
  await page.screenshot({ path: screenshotPath('chat-mobile-drawer.png') });
  const drawer = await page.locator('#sidebar').evaluate((el) => el.getBoundingClientRect().toJSON());
  assert.ok(
    drawer.left >= 0 && drawer.right < 375,
    `the open drawer covers part of the screen: ${JSON.stringify(drawer)}`,
  );
  assert.ok(await page.locator('#sidebar-backdrop').isVisible(), 'a backdrop covers the rest');
  // Choosing a conversation closes the drawer.
  await page.locator('.conversation-open', { hasText: 'Trip ideas' }).click();
  await page.waitForSelector('#sidebar-backdrop[hidden]', { state: 'attached' });
  assert.match(await page.locator('#conversation-title').innerText(), /Trip ideas/);
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0);
  await closeClean(context, seen);
});
