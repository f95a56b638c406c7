// `npm run lint`. Syntax-only typescript-eslint rules (no type information), so a full run stays fast;
// `npm run typecheck` is what checks types.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'data/', 'coverage/', '.tmp/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.node,
    },
    rules: {
      // Foreign JSON is `unknown` and is narrowed; `any` switches the checker off.
      '@typescript-eslint/no-explicit-any': 'error',
      // `_name` marks a parameter or binding that is unused on purpose (a callback's position, a discarded tuple slot).
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_',
        varsIgnorePattern: '^_',
        caughtErrorsIgnorePattern: '^_',
        destructuredArrayIgnorePattern: '^_',
      }],
    },
  },
  {
    // The event schema is the only contract between stages: ingest must not reach into the proxy's internals.
    files: ['ingest/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/proxy/**', '!**/proxy/event.ts'],
          message: 'ingest may import only proxy/event.ts from the proxy: the event schema is the contract between stages.',
        }],
      }],
    },
  },
);
