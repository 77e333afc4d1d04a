/**
 * Fill similar colour: a press labels the 4-connected region of image pixels within the tolerance of
 * the one clicked, as one undo step. It opens no gesture.
 */
import { count } from '../format';
import { StrokeChanges, floodRegion } from '../raster';
import type { Sample } from '../view';
import { paintValue, type Tool, type ToolContext } from './tool';

export class FillTool implements Tool {
  readonly cursor = 'crosshair';

  constructor(private readonly ctx: ToolContext) {}

  outline(): null {
    return null;
  }

  press(at: Sample): boolean {
    const { ctx } = this;
    const value = paintValue(ctx, false);
    if (value === null) return false;
    const { raster, settings } = ctx;
    const region = floodRegion(ctx.imagePixels(), raster.width, raster.height, at.x, at.y, settings.tolerance);
    if (!region) return false;
    const changes = new StrokeChanges(value, settings.preserveLabels);
    raster.paintMask(region.mask, region.rect, changes);
    if (ctx.commit(changes, 'Fill')) {
      ctx.message(`Filled ${count(changes.length)} pixels (region of ${count(region.count)}, tolerance ${settings.tolerance}).`);
    } else ctx.message('That region already has this class.');
    ctx.redraw();
    return false;
  }

  move(): void {}

  release(): void {}
}

export function fill(ctx: ToolContext): FillTool {
  return new FillTool(ctx);
}
