/**
 * Finding a Vulkan loader and driver for Dawn (the `webgpu` package) on Linux, without tfjs, so the
 * main side (client.ts) can prepare the process environment before it starts an engine worker.
 *
 * Dawn dlopens `libvulkan.so.1` (the Khronos loader) by name and the loader reads its drivers (ICD
 * JSON files) from the system directories or `VK_ICD_FILENAMES`. When the system has no loader,
 * a Chromium or Electron install ships one next to its binary (with SwiftShader, a CPU Vulkan
 * driver): `preloadVulkanLoader` loads that copy into the process (RTLD_GLOBAL | RTLD_NODELETE),
 * after which Dawn's dlopen by soname finds it — the same effect as
 * `LD_LIBRARY_PATH=/usr/lib/chromium`, which only works when set before the process starts.
 * `useSwiftShaderIfNoDriver` points the loader at SwiftShader only when no driver is installed at
 * all and no VK_* override is set; it sets the real environment, which only the main thread can
 * do (a worker thread's process.env is a private copy), so it must run before the worker starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

const LOADER = 'libvulkan.so.1';
const SWIFTSHADER_ICD = 'vk_swiftshader_icd.json';
/** dlopen flags: RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE (glibc; Node's os.constants lacks NODELETE). */
const PRELOAD_FLAGS = 0x2 | 0x100 | 0x1000;

/** Folders that may hold a private Vulkan loader (+ SwiftShader): override, Electron, Chromium. */
export function bundledVulkanDirs(): string[] {
  // an explicit folder replaces the search (a folder without the files disables it)
  if (process.env.HEATSEG_VULKAN_DIR) return [process.env.HEATSEG_VULKAN_DIR];
  const dirs: string[] = [];
  if (process.versions.electron) dirs.push(path.dirname(process.execPath));
  dirs.push('/usr/lib/chromium', '/usr/lib64/chromium-browser', '/usr/lib/chromium-browser');
  return dirs;
}

export type LoaderState = { found: true; source: 'system' | string } | { found: false };
let loader: LoaderState | null = null;

/** `process.dlopen` of a plain shared library: it loads (and with NODELETE stays) but is no Node addon. */
function dlopen(file: string): boolean {
  try {
    process.dlopen({ exports: {} }, file, PRELOAD_FLAGS);
    return true;
  } catch (e) {
    return /did not self-register/.test((e as Error).message);
  }
}

/** Makes a Vulkan loader available to Dawn in this process (Linux only; idempotent). */
export function preloadVulkanLoader(): LoaderState {
  if (process.platform !== 'linux') return { found: true, source: 'system' };
  if (loader) return loader;
  if (dlopen(LOADER)) loader = { found: true, source: 'system' };
  else {
    const dir = bundledVulkanDirs().find((d) => fs.existsSync(path.join(d, LOADER)) && dlopen(path.join(d, LOADER)));
    loader = dir ? { found: true, source: path.join(dir, LOADER) } : { found: false };
  }
  return loader;
}

/** The directories the Khronos loader searches for driver manifests (ICDs) on Linux. */
function icdDirs(): string[] {
  const env = process.env;
  const home = os.homedir();
  const config = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const data = (env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  return [
    ...config.map((d) => path.join(d, 'vulkan/icd.d')),
    '/etc/vulkan/icd.d',
    path.join(env.XDG_DATA_HOME || path.join(home, '.local/share'), 'vulkan/icd.d'),
    ...data.map((d) => path.join(d, 'vulkan/icd.d')),
  ];
}

/** Installed Vulkan driver manifests (JSON files in the loader's search path). */
export function installedVulkanDrivers(): string[] {
  if (process.platform !== 'linux') return [];
  const out: string[] = [];
  for (const d of icdDirs()) {
    try {
      for (const f of fs.readdirSync(d)) if (f.endsWith('.json')) out.push(path.join(d, f));
    } catch {
      // absent folder
    }
  }
  return out;
}

function driverOverride(): string | null {
  const e = process.env;
  return e.VK_ICD_FILENAMES || e.VK_DRIVER_FILES || e.VK_ADD_DRIVER_FILES || null;
}

/**
 * When no Vulkan driver is installed and nothing overrides the search, points the loader at a
 * bundled SwiftShader (CPU Vulkan: correct but slow, never chosen automatically for training).
 * Returns the manifest used, or null. Main thread only (see the file comment); Linux only;
 * HEATSEG_WEBGPU_SOFTWARE=0 turns it off (a forced webgpu then fails instead of crawling).
 */
export function useSwiftShaderIfNoDriver(): string | null {
  if (process.platform !== 'linux' || !isMainThread || process.env.HEATSEG_WEBGPU_SOFTWARE === '0') return null;
  if (driverOverride() || installedVulkanDrivers().length > 0) return null;
  for (const d of bundledVulkanDirs()) {
    const icd = path.join(d, SWIFTSHADER_ICD);
    if (fs.existsSync(icd)) {
      process.env.VK_ICD_FILENAMES = icd;
      return icd;
    }
  }
  return null;
}

/** What to install so Dawn finds a GPU, per OS. */
export function gpuDriverHint(): string {
  switch (process.platform) {
    case 'win32':
      return 'WebGPU on Windows uses Direct3D 12: install the current driver from your GPU vendor (Windows 10 or later)';
    case 'darwin':
      return 'WebGPU on macOS uses Metal (macOS 11 or later, any Apple silicon or Metal-capable GPU)';
    case 'linux':
      return (
        'WebGPU on Linux uses Vulkan: install the Vulkan loader and your GPU vendor\'s Vulkan driver — Debian/Ubuntu: ' +
        '`sudo apt install libvulkan1 mesa-vulkan-drivers` (AMD/Intel), NVIDIA: the proprietary driver with its Vulkan ICD ' +
        '(e.g. `libnvidia-gl-<version>`); Fedora: `sudo dnf install vulkan-loader mesa-vulkan-drivers`; `vulkaninfo --summary` ' +
        '(package vulkan-tools) lists what the loader finds'
      );
    default:
      return `WebGPU through Dawn has no prebuilt binary for ${process.platform}`;
  }
}

/**
 * Linux, before starting Dawn at all: the reason it cannot find a Vulkan adapter when that is
 * already certain from the files (no loader, or no driver and no VK_* override), else null.
 * Spares the automatic choice Dawn's start-up and its warnings on machines without Vulkan.
 */
export function vulkanMissing(): string | null {
  if (process.platform !== 'linux') return null;
  if (!preloadVulkanLoader().found || (!driverOverride() && installedVulkanDrivers().length === 0)) return diagnoseNoAdapter();
  return null;
}

/** Why Dawn found no adapter, as far as the files on this machine tell. */
export function diagnoseNoAdapter(): string {
  if (process.platform !== 'linux') return `Dawn found no GPU adapter. ${gpuDriverHint()}`;
  const l = preloadVulkanLoader();
  if (!l.found) return `Dawn could not load the Vulkan loader (${LOADER} is not installed). ${gpuDriverHint()}`;
  const override = driverOverride();
  if (!override && installedVulkanDrivers().length === 0) {
    return `the Vulkan loader found no driver (no manifest in ${icdDirs().filter((d, i, a) => a.indexOf(d) === i).join(', ')}). ${gpuDriverHint()}`;
  }
  return (
    `Dawn found no usable Vulkan adapter (drivers: ${override ? `VK_* override ${override}` : installedVulkanDrivers().join(', ')}); ` +
    `the driver may lack a feature Dawn requires (Dawn's warning above names it; Debian 12's lavapipe does) or the GPU may be ` +
    `inaccessible (permissions on /dev/dri or /dev/nvidia*). ${gpuDriverHint()}`
  );
}
