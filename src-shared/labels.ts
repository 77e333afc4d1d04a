/**
 * Sparse label rasters: one uint8 value per pixel, row-major; 0 = unlabelled (never background),
 * 1..254 = a class's label value. Patches use 255 for "leave this pixel as it is".
 * Pure TypeScript, shared by main, engine and renderer.
 */
import { unzlibSync, zlibSync } from 'fflate';

export const UNLABELLED = 0;
export const PATCH_KEEP = 255;

export function compressRaster(raster: Uint8Array): Uint8Array {
  return zlibSync(raster, { level: 6 });
}

export function decompressRaster(data: Uint8Array, width: number, height: number, what = 'label raster'): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = unzlibSync(data);
  } catch (e) {
    throw new Error(`${what}: corrupt compressed data (${(e as Error).message})`, { cause: e });
  }
  if (raw.length !== width * height) {
    throw new Error(`${what}: holds ${raw.length} pixels, expected ${width}×${height} = ${width * height}`);
  }
  return raw;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Writes a patch into a raster in place. Patch pixels equal to PATCH_KEEP leave the raster unchanged.
 * Returns the number of pixels whose value changed.
 */
export function applyPatch(raster: Uint8Array, rasterWidth: number, rasterHeight: number, rect: Rect, patch: Uint8Array): number {
  if (patch.length !== rect.width * rect.height) {
    throw new Error(`label patch holds ${patch.length} pixels, expected ${rect.width}×${rect.height}`);
  }
  if (rect.x + rect.width > rasterWidth || rect.y + rect.height > rasterHeight) {
    throw new Error(
      `label patch ${rect.width}×${rect.height} at (${rect.x}, ${rect.y}) does not fit the ${rasterWidth}×${rasterHeight} image`,
    );
  }
  let changed = 0;
  for (let row = 0; row < rect.height; row++) {
    const src = row * rect.width;
    const dst = (rect.y + row) * rasterWidth + rect.x;
    for (let col = 0; col < rect.width; col++) {
      const v = patch[src + col]!;
      if (v !== PATCH_KEEP && raster[dst + col] !== v) {
        raster[dst + col] = v;
        changed++;
      }
    }
  }
  return changed;
}

/** Pixel count per label value (index = value). */
export function histogram(raster: Uint8Array): Uint32Array {
  const counts = new Uint32Array(256);
  for (let i = 0; i < raster.length; i++) counts[raster[i]!]!++;
  return counts;
}

export function labelledPixels(raster: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < raster.length; i++) if (raster[i] !== UNLABELLED) n++;
  return n;
}

/** Replaces every value by lut[value] in place. */
export function remap(raster: Uint8Array, lut: Uint8Array): void {
  for (let i = 0; i < raster.length; i++) raster[i] = lut[raster[i]!]!;
}

const CHUNK = 0x8000;
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + CHUNK)));
  }
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
