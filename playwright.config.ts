import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests in browser mode: each test starts the real HTTP server in-process (see
 * test/e2e/fixtures.ts) against a fresh temporary project, and drives Debian's Chromium.
 * The renderer is built once per run into a temporary folder (test/e2e/global-setup.ts); set
 * HEATSEG_E2E_RENDERER_DIR to an existing build (e.g. out/renderer) to skip that.
 */
export default defineConfig({
  testDir: 'test/e2e',
  testMatch: '*.spec.ts',
  globalSetup: './test/e2e/global-setup.ts',
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  use: {
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.HEATSEG_E2E_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
