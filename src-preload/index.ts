/**
 * The preload bridge: the renderer's only way into the main process. It exposes one narrow, typed
 * function per concern (call an API operation, listen to events, pick a folder); the main process
 * validates every input against the contract, so nothing here trusts the renderer either.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { AppEvent } from '../src-shared/api';
import type { HeatsegBridge, IpcReply } from '../src-shared/bridge';

const bridge: HeatsegBridge = {
  async call(method, input) {
    const reply = (await ipcRenderer.invoke('heatseg:call', method, input)) as IpcReply;
    if (reply.ok) return reply.result;
    const err = new Error(reply.error.message) as Error & { code: string };
    err.code = reply.error.code;
    throw err;
  },
  onEvent(listener) {
    const wrapped = (_e: unknown, event: AppEvent) => listener(event);
    ipcRenderer.on('heatseg:event', wrapped);
    return () => ipcRenderer.removeListener('heatseg:event', wrapped);
  },
  pickFolder: (purpose) => ipcRenderer.invoke('heatseg:pick-folder', purpose) as Promise<string | null>,
};

contextBridge.exposeInMainWorld('heatseg', bridge);
