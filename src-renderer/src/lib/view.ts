/**
 * The label canvas's view: stage pixels = image pixels × scale + offset. Fit, zoom about a point,
 * client ↔ image coordinates and keeping the keyboard cursor on screen. Pure maths (no Konva, no
 * DOM): the canvas measures its host into `host` and applies the transform to the stage whenever
 * `changed` fires.
 */

export const MAX_SCALE = 64;
/** Space left around the image when it is fitted. */
const FIT_PAD = 16;
/** How close to the edge the keyboard cursor may come before the view follows it. */
const KEEP_MARGIN = 40;

export interface Point {
  x: number;
  y: number;
}

/** A pointer sample: where it is on the image (x, y, image pixels) and on the stage (CSS pixels from the host's corner). */
export interface Sample extends Point {
  stageX: number;
  stageY: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type CursorMove = 'cursor.left' | 'cursor.right' | 'cursor.up' | 'cursor.down';

const MOVES: Record<CursorMove, [number, number]> = {
  'cursor.left': [-1, 0],
  'cursor.right': [1, 0],
  'cursor.up': [0, -1],
  'cursor.down': [0, 1],
};

export class View {
  scale = 1;
  x = 0;
  y = 0;
  /** The view is the fitted one: a resize fits it again. */
  fitted = true;
  /** The host element's box in client pixels, as last measured. */
  host: Box = { left: 0, top: 0, width: 0, height: 0 };

  constructor(
    readonly imageWidth: number,
    readonly imageHeight: number,
    private readonly changed: (view: View) => void = () => undefined,
  ) {}

  set(scale: number, x: number, y: number, fitted = false): void {
    this.scale = scale;
    this.x = x;
    this.y = y;
    this.fitted = fitted;
    this.changed(this);
  }

  fitScale(): number {
    const { width, height } = this.host;
    return Math.max(1e-3, Math.min((width - 2 * FIT_PAD) / this.imageWidth, (height - 2 * FIT_PAD) / this.imageHeight));
  }

  minScale(): number {
    return Math.min(0.05, this.fitScale() / 2);
  }

  /** The whole image, centred. */
  fit(): void {
    const s = this.fitScale();
    this.set(s, (this.host.width - this.imageWidth * s) / 2, (this.host.height - this.imageHeight * s) / 2, true);
  }

  /** Zooms by `factor` keeping the image point under (sx, sy) (stage pixels) where it is. */
  zoomAt(factor: number, sx: number, sy: number): void {
    const s = Math.min(MAX_SCALE, Math.max(this.minScale(), this.scale * factor));
    const ix = (sx - this.x) / this.scale;
    const iy = (sy - this.y) / this.scale;
    this.set(s, sx - ix * s, sy - iy * s);
  }

  /** Zooms about the centre of the host. */
  zoomBy(factor: number): void {
    this.zoomAt(factor, this.host.width / 2, this.host.height / 2);
  }

  /** One image pixel per stage pixel, about the centre. */
  actualSize(): void {
    this.zoomBy(1 / this.scale);
  }

  /** Zooms for a wheel event: about 0.15% per pixel scrolled, at most e× per event. */
  wheelZoom(deltaY: number, deltaMode: number, clientX: number, clientY: number): void {
    const factor = Math.exp(Math.max(-1, Math.min(1, -wheelPixels(deltaY, deltaMode) * 0.0015)));
    this.zoomAt(factor, clientX - this.host.left, clientY - this.host.top);
  }

  /** The pointer at client (x, y). */
  sample(clientX: number, clientY: number): Sample {
    const stageX = clientX - this.host.left;
    const stageY = clientY - this.host.top;
    return { x: (clientX - this.host.left - this.x) / this.scale, y: (clientY - this.host.top - this.y) / this.scale, stageX, stageY };
  }

  /** A sample at an image point (the keyboard cursor). */
  at(p: Point): Sample {
    return { x: p.x, y: p.y, stageX: p.x * this.scale + this.x, stageY: p.y * this.scale + this.y };
  }

  /** Pans the least that brings `p` (image pixels) at least KEEP_MARGIN inside the host. */
  keepInView(p: Point): void {
    const { stageX: sx, stageY: sy } = this.at(p);
    const { width, height } = this.host;
    let dx = 0;
    let dy = 0;
    if (sx < KEEP_MARGIN) dx = KEEP_MARGIN - sx;
    else if (sx > width - KEEP_MARGIN) dx = width - KEEP_MARGIN - sx;
    if (sy < KEEP_MARGIN) dy = KEEP_MARGIN - sy;
    else if (sy > height - KEEP_MARGIN) dy = height - KEEP_MARGIN - sy;
    if (dx || dy) this.set(this.scale, this.x + dx, this.y + dy);
  }

  /**
   * Where an arrow key moves the keyboard cursor from `p`: about 8 screen pixels (at least one image
   * pixel; ten times that when `coarse`), kept on pixel centres' range inside the image.
   */
  stepCursor(p: Point, move: CursorMove, coarse: boolean): Point {
    const step = Math.max(1, Math.round(8 / this.scale)) * (coarse ? 10 : 1);
    const [dx, dy] = MOVES[move];
    return {
      x: Math.min(this.imageWidth - 0.5, Math.max(0.5, p.x + dx * step)),
      y: Math.min(this.imageHeight - 0.5, Math.max(0.5, p.y + dy * step)),
    };
  }
}

export function isCursorMove(action: string): action is CursorMove {
  return Object.hasOwn(MOVES, action);
}

/** A wheel delta in pixels (line mode counts 16 pixels a line). */
export function wheelPixels(deltaY: number, deltaMode: number): number {
  return deltaMode === 1 ? deltaY * 16 : deltaY;
}
