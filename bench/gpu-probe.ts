/**
 * What WebGPU (Dawn, the `webgpu` package) finds on this machine, without forcing any fallback:
 * the Vulkan loader, the installed driver manifests, and the adapter Dawn picks for
 * 'high-performance'. Prints a few lines and one JSON line; exit code 0 when a real GPU adapter
 * exists, 2 when only a CPU fallback does, 3 when none. Used by bench/gpu-check.sh.
 *   npx tsx bench/gpu-probe.ts
 */
import { adapterDetail, isSoftwareAdapter, type GpuAdapter } from '../src-main/engine/backend.js';
import { diagnoseNoAdapter, installedVulkanDrivers, preloadVulkanLoader } from '../src-main/engine/vulkan.js';

const log = (s: string) => process.stdout.write(`${s}\n`);
const loader = preloadVulkanLoader();
const drivers = installedVulkanDrivers();
const override = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_ADD_DRIVER_FILES'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
if (process.platform === 'linux') {
  log(`Vulkan loader: ${loader.found ? loader.source : 'libvulkan.so.1 not found'}`);
  log(`Vulkan drivers: ${drivers.length ? drivers.join(', ') : 'none installed'}${override.length ? `; override ${override.join(' ')}` : ''}`);
}
let adapter: GpuAdapter | null = null;
let problem: string | null = null;
try {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  if (a) {
    const i = a.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    adapter = { vendor: i.vendor, architecture: i.architecture, description: i.description, device: i.device, software: isSoftwareAdapter(i) };
  } else problem = diagnoseNoAdapter();
} catch (e) {
  problem = `Dawn failed to load: ${(e as Error).message.split('\n')[0]}`;
}
log(adapter ? `WebGPU adapter: ${adapterDetail(adapter)}` : `WebGPU adapter: none — ${problem}`);
log(JSON.stringify({ loader, drivers, override, adapter, problem }));
process.exit(adapter ? (adapter.software ? 2 : 0) : 3);
