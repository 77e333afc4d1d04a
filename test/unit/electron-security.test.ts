/**
 * Electron hardening decisions (issue 11 item 16), tested without Electron: the exact origin
 * check behind IPC and navigation, the app:// file mapping, permissions, the openExternal
 * allow-list, and the fuses in the packaging config (validated by electron-builder's own schema).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ENTRY, externalUrlAllowed, isOwnUrl, mimeType, permissionAllowed, resolveAppFile } from '../../src-main/electron/security';

const ROOT = path.resolve(__dirname, '../..');

describe('isOwnUrl (IPC senders, navigation)', () => {
  it('accepts exactly the app:// origin when packaged', () => {
    expect(isOwnUrl(APP_ENTRY)).toBe(true);
    expect(isOwnUrl('app://heatseg/')).toBe(true);
    expect(isOwnUrl('app://heatseg/index.html#/image/3')).toBe(true);
  });

  it('refuses the old bypasses and look-alikes', () => {
    for (const url of [
      'file:///tmp/evil.html#/renderer/index.html',
      'file:///home/user/Downloads/renderer/index.html',
      'file:///opt/heatseg/resources/app.asar/out/renderer/index.html',
      'app://heatseg.evil.com/index.html',
      'app://evil/index.html',
      'app://heatseg:8080/index.html',
      'app://user:pw@heatseg/index.html',
      'https://heatseg/index.html',
      'http://127.0.0.1:5173/',
      'about:blank',
      'data:text/html,<script>1</script>',
      'javascript:alert(1)',
      '',
      'not a url',
    ]) {
      expect(isOwnUrl(url), url).toBe(false);
    }
    expect(isOwnUrl(undefined)).toBe(false);
    expect(isOwnUrl(null)).toBe(false);
  });

  it('in development accepts only the dev server origin (scheme, host and port), not a prefix', () => {
    const dev = 'http://localhost:5173';
    expect(isOwnUrl('http://localhost:5173/', dev)).toBe(true);
    expect(isOwnUrl('http://localhost:5173/src/main.ts', dev)).toBe(true);
    expect(isOwnUrl('http://localhost:51730/', dev)).toBe(false);
    expect(isOwnUrl('http://localhost:5173.evil.com/', dev)).toBe(false);
    expect(isOwnUrl('https://localhost:5173/', dev)).toBe(false);
    expect(isOwnUrl('file:///tmp/evil.html#http://localhost:5173', dev)).toBe(false);
    expect(isOwnUrl(APP_ENTRY, dev)).toBe(false);
  });
});

describe('resolveAppFile (protocol.handle for app://)', () => {
  const root = path.join(ROOT, 'out', 'renderer');
  it('maps paths inside the renderer folder, / to index.html', () => {
    expect(resolveAppFile('app://heatseg/', root)).toBe(path.join(root, 'index.html'));
    expect(resolveAppFile('app://heatseg/index.html', root)).toBe(path.join(root, 'index.html'));
    expect(resolveAppFile('app://heatseg/assets/index-abc.js?x=1#y', root)).toBe(path.join(root, 'assets', 'index-abc.js'));
    expect(resolveAppFile('app://heatseg/a%20b.css', root)).toBe(path.join(root, 'a b.css'));
  });

  it('never leaves the folder and refuses other origins', () => {
    for (const url of [
      'app://heatseg/../main/index.js',
      'app://heatseg/%2e%2e/main/index.js',
      'app://heatseg/assets/%2e%2e%2f%2e%2e%2fmain/index.js',
      'app://heatseg/..%5cmain%5cindex.js',
      'app://heatseg/a%00.js',
      'app://heatseg/%E0%A4%A',
      'app://other/index.html',
      'file:///etc/passwd',
    ]) {
      const f = resolveAppFile(url, root);
      if (f !== null) expect(f.startsWith(root + path.sep), `${url} → ${f}`).toBe(true);
    }
    expect(resolveAppFile('app://other/index.html', root)).toBeNull();
    expect(resolveAppFile('app://heatseg/a%00.js', root)).toBeNull();
    expect(resolveAppFile('app://heatseg/..%5cmain%5cindex.js', root)).toBeNull();
  });

  it('gives the built files their content types', () => {
    expect(mimeType('x/index.html')).toMatch(/^text\/html/);
    expect(mimeType('x/a.js')).toMatch(/^text\/javascript/);
    expect(mimeType('x/a.wasm')).toBe('application/wasm');
    expect(mimeType('x/a.unknown')).toBe('application/octet-stream');
  });
});

describe('permissions and links out', () => {
  it('denies every permission, to our page and to any other', () => {
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen', 'unknown']) {
      expect(permissionAllowed(p, APP_ENTRY)).toBe(false);
      expect(permissionAllowed(p, 'https://evil.example/')).toBe(false);
    }
  });

  it('opens only https links to allow-listed hosts', () => {
    const hosts = new Set(['docs.example.org']);
    expect(externalUrlAllowed('https://docs.example.org/page', hosts)).toBe(true);
    for (const url of [
      'http://docs.example.org/page',
      'https://docs.example.org:444/page',
      'https://user@docs.example.org/',
      'https://docs.example.org.evil.com/',
      'file:///etc/passwd',
      'smb://host/share',
      'javascript:alert(1)',
      'app://heatseg/index.html',
    ]) {
      expect(externalUrlAllowed(url, hosts), url).toBe(false);
    }
    // the shipped list links nowhere yet
    expect(externalUrlAllowed('https://github.com/')).toBe(false);
  });
});

describe('electron-builder.yml', () => {
  const require = createRequire(path.join(ROOT, 'package.json'));
  const load = () => (require('js-yaml') as { load: (s: string) => Record<string, unknown> }).load(fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8'));

  it('flips the fuses: no run-as-node, encrypted cookies, ASAR integrity, app only from ASAR, no file:// privileges', () => {
    expect(load().electronFuses).toMatchObject({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
    expect(load().asar).not.toBe(false);
  });

  it("is valid for electron-builder's schema (and a misspelt fuse is not)", async () => {
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
      validateConfiguration: (c: unknown, l: unknown) => Promise<void>;
    };
    const { DebugLogger } = require('builder-util') as { DebugLogger: new (on: boolean) => unknown };
    await expect(validateConfiguration(load(), new DebugLogger(false))).resolves.toBeUndefined();
    const bad = load();
    (bad.electronFuses as Record<string, unknown>).runAsNod = false;
    await expect(validateConfiguration(bad, new DebugLogger(false))).rejects.toThrow(/electronFuses/);
  });
});
