/**
 * The brush (and, with erase, the eraser): press paints one dab and opens a stroke; move paints the
 * capsule from the last sample to this one without a redraw of its own, so fast motion leaves no
 * gaps; release records the whole stroke as one undo step and one saved patch.
 */
import { StrokeChanges, brushCentre } from '../raster';
import type { Sample } from '../view';
import { paintValue, type Tool, type ToolContext } from './tool';

interface Stroke {
  changes: StrokeChanges;
  /** The size the stroke started with: resizing mid-stroke does not change it. */
  size: number;
  lastX: number;
  lastY: number;
}

export class StrokeTool implements Tool {
  readonly cursor = 'none';
  private stroke: Stroke | null = null;

  constructor(
    private readonly ctx: ToolContext,
    private readonly erase = false,
  ) {}

  /** The tool's own size (the eraser keeps its own). */
  private get size(): number {
    return this.erase ? this.ctx.settings.eraserSize : this.ctx.settings.brushSize;
  }

  outline(): { size: number; colour: string } {
    return { size: this.size, colour: this.erase ? '#ffb3b3' : '#ffffff' };
  }

  press(at: Sample): boolean {
    if (this.stroke) return false;
    const value = paintValue(this.ctx, this.erase);
    if (value === null) return false;
    const size = this.size;
    const cx = brushCentre(at.x, size);
    const cy = brushCentre(at.y, size);
    // the eraser always erases; brush strokes keep existing labels in "preserve labels" mode
    const changes = new StrokeChanges(value, !this.erase && this.ctx.settings.preserveLabels);
    this.ctx.raster.paintSegment(cx, cy, cx, cy, size, changes);
    this.stroke = { changes, size, lastX: cx, lastY: cy };
    this.ctx.redraw();
    return true;
  }

  move(at: Sample): void {
    const s = this.stroke;
    if (!s) return;
    const cx = brushCentre(at.x, s.size);
    const cy = brushCentre(at.y, s.size);
    if (cx === s.lastX && cy === s.lastY) return;
    this.ctx.raster.paintSegment(s.lastX, s.lastY, cx, cy, s.size, s.changes);
    s.lastX = cx;
    s.lastY = cy;
  }

  release(at?: Sample): void {
    if (!this.stroke) return;
    if (at) this.move(at);
    const { changes } = this.stroke;
    this.stroke = null;
    this.ctx.commit(changes, this.erase ? 'Eraser stroke' : 'Brush stroke');
    this.ctx.redraw();
  }
}

export function brush(ctx: ToolContext): StrokeTool {
  return new StrokeTool(ctx);
}
