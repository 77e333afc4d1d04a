/**
 * Inflating label rasters in the renderer: the platform's native DecompressionStream where it
 * exists (Chromium, Electron, Node ≥ 18), the shared pure-JS codec otherwise. (Patches are
 * compressed by rle-deflate.ts.)
 */
import { decompressRaster } from '../../../src-shared/labels';

const native = typeof DecompressionStream !== 'undefined';

async function pipe(data: Uint8Array, transform: DecompressionStream): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Inflates a raster of width×height values; the message names `what` when the data is corrupt or the wrong size. */
export async function inflateRaster(data: Uint8Array, width: number, height: number, what: string): Promise<Uint8Array> {
  if (!native) return decompressRaster(data, width, height, what);
  let raw: Uint8Array;
  try {
    raw = await pipe(data, new DecompressionStream('deflate'));
  } catch (e) {
    throw new Error(`${what}: corrupt compressed data (${(e as Error).message})`, { cause: e });
  }
  if (raw.length !== width * height) {
    throw new Error(`${what}: holds ${raw.length} pixels, expected ${width}×${height} = ${width * height}`);
  }
  return raw;
}
