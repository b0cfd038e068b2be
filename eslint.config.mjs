// ESLint for the chat page's modules (static/app/) and the browser tests (tests/e2e/).
// `make lint-frontend` runs it with `prettier --check`. The repository has no root package:
// ESLint and its configs are dev dependencies of tests/e2e/package.json, so they are resolved
// from there.
import { createRequire } from 'node:module';

const require = createRequire(new URL('./tests/e2e/package.json', import.meta.url));
const js = require('@eslint/js');
const globals = require('globals');

export default [
  { ignores: ['static/vendor/', 'target/', '**/node_modules/'] },
  js.configs.recommended,
  {
    rules: {
      eqeqeq: ['error', 'always'],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-unused-vars': ['error', { caughtErrors: 'none' }],
    },
  },
  {
    // The page: ES modules in the browser. Nothing it logs may carry message content, so
    // console.log is refused outright; the few warnings it prints give counts, not text.
    files: ['static/app/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { ...globals.browser, marked: 'readonly', DOMPurify: 'readonly', hljs: 'readonly' },
    },
    rules: { 'no-console': ['error', { allow: ['warn'] }] },
  },
  {
    // The tests run in Node, and the functions they hand to page.evaluate() run in the page.
    files: ['tests/e2e/**/*.mjs', 'eslint.config.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
];
