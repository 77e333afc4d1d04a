/** Number and text formatting for the UI. Pure functions, no DOM. */

const whole = new Intl.NumberFormat('en-US');

export function count(n: number): string {
  return whole.format(n);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

/** Compact pixel counts: 950, 12.3k, 4.1M. */
export function pixels(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(n < 10_000_000 ? 1 : 0)}M`;
}

/** Last path segment, for showing a project folder by name. */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]+/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}

/** Distinct colours offered for new classes, chosen to stay apart on a dark background. */
export const CLASS_PALETTE = [
  '#e6194b',
  '#3cb44b',
  '#ffe119',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#46f0f0',
  '#f032e6',
  '#bcf60c',
  '#fabebe',
  '#008080',
  '#e6beff',
  '#9a6324',
  '#aaffc3',
  '#808000',
  '#ffd8b1',
];

export function nextClassColor(used: string[]): string {
  const taken = new Set(used.map((c) => c.toLowerCase()));
  return CLASS_PALETTE.find((c) => !taken.has(c)) ?? CLASS_PALETTE[used.length % CLASS_PALETTE.length]!;
}
