/** Class colours: a fixed, distinguishable palette (PASCAL VOC's bit-interleaved colour map). */
export function defaultClassColor(index: number): string {
  // Skip VOC's entry 0 (black), which reads as "no label".
  let c = index + 1;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let j = 0; j < 8; j++) {
    r |= ((c >> 0) & 1) << (7 - j);
    g |= ((c >> 1) & 1) << (7 - j);
    b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
