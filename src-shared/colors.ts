/** Class colours: a fixed palette of bright, mutually distinguishable colours that read on dark and light images. */
const PALETTE = [
  '#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#42d4f4', '#f032e6', '#bfef45', '#fabed4', '#469990',
  '#dcbeff', '#9a6324', '#fffac8', '#aaffc3', '#808000', '#ffd8b1', '#a9a9ff', '#ff6f61', '#00b3a4', '#c0c0c0',
];

export function defaultClassColor(index: number): string {
  if (index < PALETTE.length) return PALETTE[index]!;
  // Beyond the palette: golden-angle hues at fixed saturation/lightness.
  const h = (index * 137.508) % 360;
  return hslToHex(h, 0.75, 0.6);
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

export function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
