/**
 * zlib for label rasters and patches in the renderer: the platform's native Compression Streams
 * where they exist (Chromium, Electron, Node ≥ 18: fast and off the main thread's JavaScript), the
 * shared pure-JS codec otherwise. Both produce and read the same zlib format as the main side.
 */
import { compressRaster, decompressRaster } from '../../../src-shared/labels';

const native = typeof CompressionStream !== 'undefined' && typeof DecompressionStream !== 'undefined';

async function pipe(data: Uint8Array, transform: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function deflate(data: Uint8Array): Promise<Uint8Array> {
  return native ? pipe(data, new CompressionStream('deflate')) : compressRaster(data);
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
