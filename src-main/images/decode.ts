/**
 * Image decoding with sharp (libvips): validates a file by decoding every pixel (so a truncated
 * JPEG is caught at import, not at training), reads oriented dimensions, makes thumbnails, and
 * gives RGB pixels to the engine. EXIF orientation is applied everywhere (browsers do the same
 * when they display a JPEG), so label rasters align with what the user sees.
 */
import sharp from 'sharp';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif'];
/**
 * Image formats heatseg recognises but cannot decode (this sharp/libvips build has no BMP loader):
 * an import names such files and says what to do instead of passing over them silently.
 */
export const UNSUPPORTED_IMAGE_EXTENSIONS: Record<string, string> = {
  '.bmp': 'BMP images are not supported (heatseg reads jpg, png, webp, tiff, gif, avif): convert it to PNG',
};
/** Formats every browser (and Electron) displays directly; others are converted to PNG for display. */
const BROWSER_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif']);
export const MAX_IMAGE_PIXELS = 16384 * 16384;
export const THUMBNAIL_SIZE = 256;

export interface ProbedImage {
  format: string;
  width: number;
  height: number;
  /** EXIF orientation (1 = as stored; 5–8 swap width and height); width/height are after it. */
  orientation: number;
  thumbnail: Uint8Array;
}

export class ImageDecodeError extends Error {}

function describe(e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  return msg.replace(/^Input buffer /, '').replace(/\s+/g, ' ').trim();
}

const fmtInt = (n: number) => n.toLocaleString('en-US');

/** libvips' "exceeds pixel limit" in numbers: the image's size and heatseg's limit. */
async function pixelLimitProblem(bytes: Uint8Array, e: unknown): Promise<string | null> {
  if (!/pixel limit/i.test((e as Error).message ?? '')) return null;
  const side = Math.sqrt(MAX_IMAGE_PIXELS);
  let size = 'larger than the limit';
  try {
    const m = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (m.width && m.height) size = `${fmtInt(m.width)}×${fmtInt(m.height)} = ${fmtInt(m.width * m.height)} pixels`;
  } catch {
    // the header cannot be read either: keep the generic wording
  }
  return `image is ${size}, above heatseg's limit of ${fmtInt(side)}×${fmtInt(side)} = ${fmtInt(MAX_IMAGE_PIXELS)} pixels`;
}

/** Runs a sharp pipeline; the pixel-limit error becomes an ImageDecodeError with the size and the limit. */
async function withPixelLimit<T>(bytes: Uint8Array, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    const limit = await pixelLimitProblem(bytes, e);
    if (limit) throw new ImageDecodeError(limit);
    throw e;
  }
}

/** Decodes the whole image (to catch truncation) and returns its oriented size and a thumbnail. */
export async function probeImage(bytes: Uint8Array): Promise<ProbedImage> {
  if (bytes.length === 0) throw new ImageDecodeError('empty file (0 bytes)');
  let format: string | undefined;
  try {
    const meta = await sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS }).metadata();
    format = meta.format;
    const orientation = meta.orientation ?? 1;
    const { info } = await sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS })
      .rotate()
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const thumbnail = await sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS })
      .rotate()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 75 })
      .toBuffer();
    return { format: format ?? 'unknown', width: info.width, height: info.height, orientation, thumbnail };
  } catch (e) {
    const limit = await pixelLimitProblem(bytes, e);
    if (limit) throw new ImageDecodeError(limit);
    const what = format ? `${format} image` : 'image';
    throw new ImageDecodeError(`cannot decode ${what}: ${describe(e)}`);
  }
}

/** Bytes the renderer can show: the original file when the browser supports its format, else PNG. */
export async function displayBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const meta = await sharp(bytes).metadata();
  const oriented = (meta.orientation ?? 1) === 1;
  if (meta.format && BROWSER_FORMATS.has(meta.format) && oriented) return bytes;
  return withPixelLimit(bytes, () => sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().png().toBuffer());
}

/** Oriented RGB pixels, optionally resized (bilinear) to width×height. */
export async function decodeRgb(
  bytes: Uint8Array,
  size?: { width: number; height: number },
): Promise<{ data: Uint8Array; width: number; height: number }> {
  let img = sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().removeAlpha().toColourspace('srgb');
  if (size) img = img.resize(size.width, size.height, { fit: 'fill', kernel: 'linear' });
  const { data, info } = await withPixelLimit(bytes, () => img.raw().toBuffer({ resolveWithObject: true }));
  if (info.channels !== 3) throw new ImageDecodeError(`expected 3 channels after decoding, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}
