// ESLint flat config. The import-boundary rules make the layering in ARCHITECTURE.md true:
// shared code is pure, the renderer and preload never reach Node or the ML engine, and only the
// engine (which runs in a worker) imports TensorFlow.js or onnxruntime. The rest of src-main
// reaches the engine only through its worker handle (engine/client.ts, itself free of engine
// values) and type-only imports, so no module graph from the UI-answering thread loads either.
// Decision: CLI commands that run the engine in-process on purpose (`bench …`, `predict
// MODEL.onnx`) load it with a dynamic import() in src-main/cli/engine-commands.ts; the rule does
// not see import() expressions, and test/unit/boundaries.test.ts allows exactly those (engine and
// src-main/studies targets from src-main/cli) while following every other import, static or dynamic.
// src-main/studies (the benchmarks behind `heatseg bench …`) run the engine in-process like the
// engine itself; the rest of src-main imports them only as types. bench/ holds developer scripts:
// src-main never imports it, and it never imports test/ (what both need lives in bench/ or src-main).
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
    rules: restrict(['**/bench', '**/bench/**'], 'bench/ holds developer scripts; src-main (the product, `heatseg bench` included: src-main/studies) never imports them.'),
  },
  {
    files: ['bench/**'],
    rules: restrict(['**/test', '**/test/**'], 'bench/ scripts do not import test/: what both need lives in bench/ (or src-main).'),
  },
  {
    files: ['src-main/**'],
    ignores: ['src-main/engine/**', 'src-main/studies/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tensorflow/*', 'onnxruntime-*', 'webgpu'],
              message: 'TensorFlow.js, Dawn (webgpu) and onnxruntime run only inside the engine worker (src-main/engine), never on the thread that answers the UI.',
            },
            {
              // any engine module but the worker handle: its module graph may reach TF.js / onnxruntime
              regex: '(^|/)engine/(?!client\\.js$)[^/]+$',
              allowTypeImports: true,
              message: 'Outside src-main/engine, run the engine through engine/client.js (a worker job); only type imports of other engine modules.',
            },
            {
              // the studies run the engine in-process: the CLI loads them with import(), nothing statically
              regex: '(^|/)studies/',
              allowTypeImports: true,
              message: 'src-main/studies run the engine in-process: only the CLI loads them, with import(); elsewhere only type imports.',
            },
          ],
        },
      ],
    },
  },
  {
    // the worker handle runs on the UI-answering thread: it may know the engine's types, not load its modules
    files: ['src-main/engine/client.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@tensorflow/*', 'onnxruntime-*', 'webgpu'], message: 'client.ts runs on the UI-answering thread.' },
            // vulkan.ts: plain Node (no TF.js), sets the Vulkan environment on this thread before a worker starts
            { regex: '^\\./(?!vulkan\\.js$)', allowTypeImports: true, message: 'client.ts may import engine modules only as types (they run in the worker).' },
          ],
        },
      ],
    },
  },
);
