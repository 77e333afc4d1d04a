/**
 * The webgpu backend's selection: a CPU fallback adapter (SwiftShader, llvmpipe…) is never chosen
 * automatically, forcing takes any adapter and reports it, and a machine without Vulkan gets a
 * message naming what is missing and what to install (in a child process: the Vulkan loader,
 * once loaded, stays loaded in a process).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { adapterDetail, initBackend, isSoftwareAdapter } from '../../../src-main/engine/backend';
import { ADAM_EPSILON, adam } from '../../../src-main/engine/trainer';
import { parseInput } from '../../../src-shared/api';
import { BACKENDS, DEFAULT_FORM, trainInput } from '../../../src-renderer/src/lib/train-form';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('adapter classification', () => {
  it('treats fallback adapters and CPU drivers by name as software, GPUs as GPUs', () => {
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true })).toBe(true);
    // the name alone suffices (older Dawn builds report no isFallbackAdapter)
    expect(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', description: 'lavapipe' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' })).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', isFallbackAdapter: false })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' })).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)' })).toBe(false);
  });

  it('names vendor, architecture and description, and says when it is no GPU', () => {
    expect(adapterDetail({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', device: '', software: false })).toBe('webgpu on nvidia hopper (NVIDIA H200)');
    expect(adapterDetail({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', device: '', software: true })).toBe(
      'webgpu on google swiftshader (SwiftShader driver 5.0.0, CPU fallback, not a GPU)',
    );
  });
});

describe('choosing webgpu', () => {
  it('the Train panel offers it and train.start accepts it', () => {
    expect(BACKENDS.map((b) => b.value)).toContain('webgpu');
    const input = trainInput({ ...DEFAULT_FORM, backend: 'webgpu' });
    expect(input.backend).toBe('webgpu');
    expect(parseInput('train.start', input).backend).toBe('webgpu');
    expect(() => parseInput('train.start', { ...input, backend: 'webgl' })).toThrow();
  });
});

describe('Adam epsilon', () => {
  it("is stated, not the backend's (WebGL's default is 1e-4, tfjs#6980)", () => {
    expect(ADAM_EPSILON).toBe(1e-7);
    const opt = adam(0.01);
    expect(opt.getConfig()).toMatchObject({ learningRate: 0.01, epsilon: 1e-7 });
    opt.dispose();
  });

  it('every Adam made in the engine and the benchmarks passes its epsilon', () => {
    const files = ['src-main', 'bench'].flatMap((d) => (fs.readdirSync(path.join(ROOT, d), { recursive: true }) as string[]).map((f) => path.join(d, f)));
    const offenders: string[] = [];
    for (const f of files.filter((f) => f.endsWith('.ts'))) {
      const src = fs.readFileSync(path.join(ROOT, f), 'utf8');
      // tf.train.adam(lr, beta1, beta2, epsilon): fewer than four arguments takes the backend's
      for (const m of src.matchAll(/tf\.train\.adam\(([^()]*(?:\([^()]*\)[^()]*)*)\)/g)) if (m[1]!.split(',').length < 4) offenders.push(`${f}: ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });
});

const gpu = await initBackend('webgpu').catch((e: unknown) => e as Error);
if (gpu instanceof Error) console.warn(`webgpu adapter tests skipped: ${gpu.message}`);

describe.skipIf(gpu instanceof Error)('on the adapter this machine has', () => {
  it('forcing webgpu activates it and reports the adapter', async () => {
    const info = await initBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.adapter).toBeDefined();
    expect(info.detail).toBe(adapterDetail(info.adapter!));
    expect(info.detail).toContain(info.adapter!.vendor);
  });

  it('the automatic choice takes webgpu only on a real GPU, and says why not otherwise', async () => {
    const forced = await initBackend('webgpu');
    await initBackend('cpu');
    // a fresh automatic choice: the module keeps the first choice, so ask in a child process
    // the same drivers the forced call found (it may have pointed VK_ICD_FILENAMES at SwiftShader)
    const child = runChild('auto', process.env.VK_ICD_FILENAMES ? { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES } : {});
    if (forced.adapter!.software) {
      expect(child.name).not.toBe('webgpu');
      expect(child.note).toBe(`webgpu not used: only a CPU fallback adapter (${forced.detail})`);
    } else {
      expect(child.name === 'webgpu' || child.name === 'tensorflow').toBe(true);
    }
  });
});

describe.skipIf(process.platform !== 'linux' || hasSystemVulkanLoader())('a Linux machine without a Vulkan loader', () => {
  it('forced webgpu fails with what is missing and what to install; the automatic choice falls back to wasm', () => {
    // HEATSEG_VULKAN_DIR pointing nowhere hides Chromium's bundled loader
    const env = { HEATSEG_VULKAN_DIR: path.join(os.tmpdir(), 'heatseg-no-vulkan-here') };
    const forced = runChild('webgpu', env);
    expect(forced.error).toMatch(/^backend 'webgpu' is unavailable: Dawn could not load the Vulkan loader \(libvulkan\.so\.1 is not installed\)/);
    expect(forced.error).toContain('sudo apt install libvulkan1 mesa-vulkan-drivers');
    expect(forced.error).toContain('NVIDIA');
    const auto = runChild('auto', env);
    expect(auto.name).toBe('wasm');
    expect(auto.note).toMatch(/^webgpu not used: Dawn could not load the Vulkan loader/);
  });
});

function hasSystemVulkanLoader(): boolean {
  const dirs = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/lib'];
  return dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')));
}

/** initBackend in a fresh Node process (tsx), with `env` added to a clean Vulkan environment. */
function runChild(want: 'auto' | 'webgpu', env: Record<string, string>): { name?: string; note?: string; error?: string } {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-webgpu-child-')), 'probe.mts');
  fs.writeFileSync(
    script,
    `import { initBackend } from ${JSON.stringify(path.join(ROOT, 'src-main/engine/backend.ts'))};\n` +
      `initBackend(${want === 'auto' ? '' : JSON.stringify(want)}).then((i) => console.log(JSON.stringify(i)), (e) => console.log(JSON.stringify({ error: e.message })));\n`,
  );
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VK_|LD_LIBRARY_PATH$|HEATSEG_VULKAN_DIR$)/.test(k)));
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out.trim().split('\n').at(-1)!);
  } finally {
    fs.rmSync(path.dirname(script), { recursive: true, force: true });
  }
}
