// ESLint flat config. The import-boundary rules make the layering in ARCHITECTURE.md true:
// shared code is pure, the renderer and preload never reach Node or the ML engine, and only the
// engine (which runs in a worker) imports TensorFlow.js.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const nodeOnlyPackages = ['better-sqlite3', 'sharp', 'electron', 'ws', 'commander', 'cli-progress', 'tsx', 'fast-png', 'webgpu'];
const restrict = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: patterns, message }] }],
});

export default ts.config(
  { ignores: ['out/', 'dist/', 'node_modules/', 'test-results/', 'playwright-report/', 'bench/results/'] },
  js.configs.recommended,
  ...ts.configs.recommended,
  ...svelte.configs['flat/recommended'],
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: ts.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    files: ['src-shared/**'],
    rules: restrict(
      [...nodeBuiltins, ...nodeOnlyPackages, '@tensorflow/*', 'svelte', 'konva', '**/src-main/**', '**/src-renderer/**', '**/src-preload/**'],
      'src-shared is pure TypeScript shared by every process: no Node, DOM-only, ML or app-layer imports.',
    ),
  },
  {
    files: ['src-renderer/**'],
    rules: restrict(
      [...nodeBuiltins, ...nodeOnlyPackages, '@tensorflow/*', '**/src-main/**', '**/src-preload/**'],
      'The renderer talks to the main side only through the API client (src-renderer/src/lib/api.ts).',
    ),
  },
  {
    files: ['src-preload/**'],
    rules: restrict(
      [...nodeBuiltins.filter((m) => m !== 'electron'), '@tensorflow/*', 'better-sqlite3', 'sharp', '**/src-main/**', '**/src-renderer/**'],
      'The preload is a narrow bridge: electron IPC and shared types only.',
    ),
  },
  {
    files: ['src-main/**'],
    ignores: ['src-main/engine/**'],
    rules: restrict(['@tensorflow/*', 'webgpu'], 'TensorFlow.js (and Dawn, its GPU) runs only inside the engine worker (src-main/engine), never on the thread that answers the UI.'),
  },
);
