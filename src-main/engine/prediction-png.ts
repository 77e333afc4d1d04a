/** Output files of `heatseg predict`: an indexed-PNG mask in the class colours and a heatmap PNG. */
import fs from 'node:fs';
import { encode as encodePng } from 'fast-png';
import sharp from 'sharp';
import { hexToRgb } from '../../src-shared/colors.js';
import { writeNewFilesUnique } from '../safe-fs.js';

/** A compact "inferno"-like ramp: black → purple → orange → yellow. */
function heatColor(t: number): [number, number, number] {
  const stops: Array<[number, number, number]> = [
    [0, 0, 4],
    [87, 16, 110],
    [188, 55, 84],
    [249, 142, 9],
    [252, 255, 164],
  ];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!,
    b = stops[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as [number, number, number];
}

/**
 * The two files `heatseg predict` writes per image (TF.js or ONNX): indexed-PNG mask in the class
 * colours and the winning probability as a heatmap, named `<stem>.png` and `<stem>.heatmap.png`.
 * Files are created exclusively: when either name is taken (an input image in the output folder,
 * an earlier output, another input with the same name from a different folder) the pair becomes
 * `<stem>~2…`, so nothing that exists is ever written over. Returns where each went.
 */
export async function writePredictionPngs(
  outDir: string,
  stem: string,
  p: { width: number; height: number; mask: Uint8Array; confidence: Uint8Array; classes: number[] },
  colors: string[],
): Promise<{ mask: string; heatmap: string }> {
  const palette = colors.map((c) => hexToRgb(c));
  const fullPalette = Array.from({ length: 256 }, (_, k) => palette[k] ?? [0, 0, 0]);
  const maskPng = encodePng({ width: p.width, height: p.height, data: p.mask, channels: 1, depth: 8, palette: fullPalette });
  const K = p.classes.length;
  const rgb = Buffer.alloc(p.width * p.height * 3);
  for (let q = 0; q < p.width * p.height; q++) {
    const best = p.confidence[q]! / 255;
    const col = heatColor(K > 1 ? (best - 1 / K) / (1 - 1 / K) : best);
    rgb[q * 3] = col[0];
    rgb[q * 3 + 1] = col[1];
    rgb[q * 3 + 2] = col[2];
  }
  const heatPng = await sharp(rgb, { raw: { width: p.width, height: p.height, channels: 3 } })
    .png()
    .toBuffer();
  fs.mkdirSync(outDir, { recursive: true });
  const [mask, heatmap] = writeNewFilesUnique(outDir, stem, [
    { suffix: '.png', data: maskPng },
    { suffix: '.heatmap.png', data: heatPng },
  ]);
  return { mask: mask!, heatmap: heatmap! };
}
