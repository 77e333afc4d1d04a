import { resolve } from 'node:path';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';

/** The dev server's hot reload needs a websocket; the CSP allows it only while developing. */
function devCspPlugin(): Plugin {
  return {
    name: 'heatseg-dev-csp',
    transformIndexHtml(html, ctx) {
      return ctx.server ? html.replace("connect-src 'self'", "connect-src 'self' ws://localhost:* http://localhost:*") : html;
    },
  };
}

export default defineConfig({
  main: {
    build: {
      // every dependency stays a runtime import, notably the native ones the engine worker loads
      // lazily: webgpu (dawn.node, unpacked from the ASAR by electron-builder.yml), tfjs backends
      externalizeDeps: true,
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'src-main/electron/main.ts'),
          // The engine's worker thread (src-main/engine/client.ts looks for it next to index.js).
          engineWorker: resolve(__dirname, 'src-main/engine/worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      externalizeDeps: true,
      rollupOptions: {
        input: { index: resolve(__dirname, 'src-preload/index.ts') },
        // Sandboxed preloads must be CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src-renderer'),
    plugins: [svelte(), devCspPlugin()],
    build: {
      rollupOptions: { input: resolve(__dirname, 'src-renderer/index.html') },
    },
  },
});
