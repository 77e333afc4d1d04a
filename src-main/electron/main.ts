/**
 * Electron main process: one window, locked down (contextIsolation, sandbox, no nodeIntegration,
 * CSP in the page, navigation and new windows blocked), and the API handlers on IPC. It reopens the
 * last project, or the renderer offers create / open / demo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, app, dialog, ipcMain, shell } from 'electron';
import { ApiError, isMethod } from '../../src-shared/api.js';
import type { IpcReply } from '../../src-shared/bridge.js';
import { Session } from '../api/handlers.js';
import { RecentProjects } from '../api/recent.js';
import { ProjectStore, isProjectDir } from '../store/project.js';

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

function isOwnFrame(frameUrl: string | undefined): boolean {
  if (!frameUrl) return false;
  const dev = rendererUrl();
  if (dev) return frameUrl.startsWith(dev);
  return frameUrl.startsWith('file://') && frameUrl.includes('/renderer/index.html');
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
  mainWindow.webContents.setWindowOpenHandler(({ url }) => {
    // Links to documentation open in the user's browser; the app itself never opens windows.
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  mainWindow.webContents.on('will-navigate', (event, url) => {
    if (!isOwnFrame(url)) event.preventDefault();
  });
  const dev = rendererUrl();
  if (dev) void mainWindow.loadURL(dev);
  else void mainWindow.loadFile(path.join(here, '../renderer/index.html'));
  mainWindow.on('closed', () => (mainWindow = null));
}

ipcMain.handle('heatseg:call', async (event, method: unknown, input: unknown): Promise<IpcReply> => {
  if (!isOwnFrame(event.senderFrame?.url)) return { ok: false, error: { code: 'forbidden', message: 'call from an unknown frame' } };
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
  if (!isOwnFrame(event.senderFrame?.url) || !mainWindow) return null;
  const create = purpose === 'create' || purpose === 'export';
  const result = await dialog.showOpenDialog(mainWindow, {
    title: create ? 'Choose a new or empty folder' : 'Choose a folder',
    properties: create ? ['openDirectory', 'createDirectory', 'promptToCreate'] : ['openDirectory'],
  });
  return result.canceled ? null : (result.filePaths[0] ?? null);
});

app.on('web-contents-created', (_e, contents) => {
  contents.on('will-attach-webview', (event) => event.preventDefault());
});

void app.whenReady().then(() => {
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
