// `npm run lint`. Syntax-only typescript-eslint rules (no type information), so a full run stays fast;
// `npm run typecheck` is what checks types.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'data/', 'coverage/', '.tmp/', '.build/'],
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
    // Stages depend on the shared contracts (contracts/, providers/, ledger/, config/, panels/), never on each other.
    files: ['ingest/**/*.ts', 'bus/**/*.ts', 'analytics/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/proxy/**'],
          message: 'the proxy is a stage: depend on contracts/, providers/ or ledger/ instead.',
        }],
      }],
    },
  },
  {
    files: ['proxy/**/*.ts', 'contracts/**/*.ts', 'providers/**/*.ts', 'ledger/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/ingest/**', '**/bus/**', '**/analytics/**', '**/cli/**', '**/dashboards/**'],
          message: 'the request path and the shared contracts must not depend on a downstream stage.',
        }],
      }],
    },
  },
  {
    // panels/ is a shared contract (the panel definitions that dashboards/ and the proxy's console both render):
    // any stage may import it, it imports none.
    files: ['panels/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/proxy/**', '**/ingest/**', '**/bus/**', '**/analytics/**', '**/cli/**', '**/dashboards/**'],
          message: 'panels/ is a shared contract: it must not depend on a stage.',
        }],
      }],
    },
  },
  {
    // dashboards/ is a stage (Grafana JSON from panels/): it depends on the shared contracts only.
    files: ['dashboards/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/proxy/**', '**/ingest/**', '**/bus/**', '**/analytics/**', '**/cli/**'],
          message: 'dashboards/ is a stage: depend on panels/ and the shared contracts instead.',
        }],
      }],
    },
  },
);
