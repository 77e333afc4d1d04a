/**
 * Electron main process: one window, locked down (contextIsolation, sandbox, no nodeIntegration,
 * CSP in the page, the renderer served from the privileged `app://heatseg/` scheme so its origin
 * is exact, navigation / redirects / frame navigation / new windows / webviews blocked, every
 * permission denied, links out only to allow-listed https hosts; decisions in security.ts), and
 * the API handlers on IPC. It reopens the last project, or the renderer offers create / open / demo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, type WebContents, app, dialog, ipcMain, protocol, session as electronSession, shell } from 'electron';
import { ApiError, isMethod } from '../../src-shared/api.js';
import type { IpcReply } from '../../src-shared/bridge.js';
import { Session } from '../api/handlers.js';
import { RecentProjects } from '../api/recent.js';
import { ProjectStore, isProjectDir } from '../store/project.js';
import { APP_ENTRY, APP_SCHEME, externalUrlAllowed, isOwnUrl, mimeType, permissionAllowed, resolveAppFile } from './security.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let mainWindow: BrowserWindow | null = null;

const session = new Session({
  transport: 'ipc',
  version: app.getVersion(),
  recent: RecentProjects.inConfigDir(),
  emit: (event) => mainWindow?.webContents.send('heatseg:event', event),
});

function rendererUrl(): string | null {
  return !app.isPackaged && process.env.ELECTRON_RENDERER_URL ? process.env.ELECTRON_RENDERER_URL : null;
}

const rendererDir = path.join(here, '../renderer');

// Before 'ready': app://heatseg/ behaves as a secure standard origin (fetch, CSP 'self', storage).
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } }]);

/** IPC only from our window's top frame showing our own origin (exact, not a path or prefix test). */
function isOwnFrame(frame: Electron.WebFrameMain | null | undefined): boolean {
  if (!frame || frame.parent !== null) return false;
  if (!mainWindow || frame !== mainWindow.webContents.mainFrame) return false;
  return isOwnUrl(frame.url, rendererUrl());
}

function openLinkOutside(url: string): void {
  if (externalUrlAllowed(url)) void shell.openExternal(url);
  else console.warn(`heatseg: refused to open ${url.slice(0, 200)} outside the app (not on the allow-list)`);
}

/** Every web contents (window, and any other that might appear): stays on our origin, opens nothing, embeds nothing. */
function guard(contents: WebContents): void {
  const dev = rendererUrl();
  contents.setWindowOpenHandler(({ url }) => {
    openLinkOutside(url);
    return { action: 'deny' };
  });
  contents.on('will-navigate', (event) => {
    if (!isOwnUrl(event.url, dev)) event.preventDefault();
  });
  contents.on('will-frame-navigate', (event) => {
    if (!isOwnUrl(event.url, dev)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!isOwnUrl(event.url, dev)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

/** Serves the built renderer under app://heatseg/ (files of out/renderer only, nothing else). */
function serveRenderer(): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const file = resolveAppFile(request.url, rendererDir);
    if (!file || request.method !== 'GET') return new Response('not found', { status: 404 });
    try {
      return new Response(await fs.promises.readFile(file), { headers: { 'content-type': mimeType(file), 'x-content-type-options': 'nosniff' } });
    } catch {
      return new Response('not found', { status: 404 });
    }
  });
}

function denyPermissions(): void {
  const dev = rendererUrl();
  const ses = electronSession.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback, details) => callback(permissionAllowed(permission, details.requestingUrl, dev)));
  ses.setPermissionCheckHandler((_wc, permission, requestingOrigin) => permissionAllowed(permission, requestingOrigin, dev));
}

function createWindow(): void {
  mainWindow = new BrowserWindow({
    width: 1400,
    height: 900,
    minWidth: 900,
    minHeight: 600,
    title: 'heatseg',
    show: false,
    webPreferences: {
      preload: path.join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  mainWindow.once('ready-to-show', () => mainWindow?.show());
  const dev = rendererUrl();
  void mainWindow.loadURL(dev ?? APP_ENTRY);
  mainWindow.on('closed', () => (mainWindow = null));
}

ipcMain.handle('heatseg:call', async (event, method: unknown, input: unknown): Promise<IpcReply> => {
  if (!isOwnFrame(event.senderFrame)) return { ok: false, error: { code: 'forbidden', message: 'call from an unknown frame' } };
  if (typeof method !== 'string' || !isMethod(method)) {
    return { ok: false, error: { code: 'not_found', message: `no API method "${String(method)}"` } };
  }
  try {
    return { ok: true, result: await session.dispatch(method, input) };
  } catch (e) {
    const code = e instanceof ApiError ? e.code : 'internal';
    return { ok: false, error: { code, message: (e as Error).message } };
  }
});

ipcMain.handle('heatseg:pick-folder', async (event, purpose: unknown) => {
  if (!isOwnFrame(event.senderFrame) || !mainWindow) return null;
  const create = purpose === 'create' || purpose === 'export';
  const result = await dialog.showOpenDialog(mainWindow, {
    title: create ? 'Choose a new or empty folder' : 'Choose a folder',
    properties: create ? ['openDirectory', 'createDirectory', 'promptToCreate'] : ['openDirectory'],
  });
  return result.canceled ? null : (result.filePaths[0] ?? null);
});

app.on('web-contents-created', (_e, contents) => guard(contents));

void app.whenReady().then(() => {
  serveRenderer();
  denyPermissions();
  const last = session.recent.list()[0];
  if (last && fs.existsSync(last) && isProjectDir(last)) {
    try {
      session.openProject(ProjectStore.open(last));
    } catch (e) {
      console.error(`could not reopen ${last}: ${(e as Error).message}`);
    }
  }
  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on('window-all-closed', () => {
  session.close();
  if (process.platform !== 'darwin') app.quit();
});
