import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { startServer } from './src-main/server/http';
import { ProjectStore } from './src-main/store/project';
import { RecentProjects } from './src-main/api/recent';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-open-'));
fs.mkdirSync(path.join(root, 'img'));
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4096" height="4096"><rect width="100%" height="100%" fill="#345"/>${Array.from({ length: 40 }, (_, i) => `<circle cx="${(i * 977) % 4096}" cy="${(i * 1543) % 4096}" r="${80 + ((i * 37) % 300)}" fill="hsl(${(i * 47) % 360},60%,50%)"/>`).join('')}</svg>`;
await sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toFile(path.join(root, 'img', 'a.jpg'));
const store = ProjectStore.create(path.join(root, 'p'));
const server = await startServer({ store, rendererDir: '/tmp/hs-build/renderer', recent: new RecentProjects(path.join(root, 'r.json')) });
await server.session.dispatch('images.import', { source: path.join(root, 'img'), masks: false, labels: false });
await server.session.dispatch('classes.add', { name: 'a' });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.on('console', (m) => console.log(m.text()));
await page.goto(server.url);
for (let i = 0; i < 3; i++) {
  const t = Date.now();
  await page.getByTestId('image-card').first().locator('[data-focus-target]').click();
  await page.locator('[data-testid="label-canvas"][data-state="ready"]').waitFor();
  console.log('open', Date.now() - t);
  await page.keyboard.press('Escape');
  await page.getByTestId('image-grid').waitFor();
}
await browser.close(); await server.close();
