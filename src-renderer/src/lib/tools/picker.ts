/**
 * Pick class from labels: a press makes the class under the pointer the one painted with and hands
 * back to the tool that was in hand before the picker. It opens no gesture.
 */
import type { ToolName } from '../tools.svelte';
import type { Sample } from '../view';
import type { Tool, ToolContext } from './tool';

export class PickerTool implements Tool {
  readonly cursor = 'crosshair';
  /** The tool a pick hands back to: the canvas keeps it to the last one in hand other than the picker. */
  returnTo: Exclude<ToolName, 'picker'> = 'brush';

  constructor(private readonly ctx: ToolContext) {}

  outline(): null {
    return null;
  }

  press(at: Sample): boolean {
    const { ctx } = this;
    const v = ctx.raster.valueAt(at.x, at.y);
    const cls = v ? ctx.classes.find((c) => c.labelValue === v) : undefined;
    if (!cls) {
      ctx.message(v ? `Label value ${v} belongs to no class.` : 'No label under the pointer: nothing picked.');
      return false;
    }
    ctx.settings.classId = cls.id;
    ctx.settings.tool = this.returnTo;
    ctx.message(`Painting with ${cls.name}.`);
    return false;
  }

  move(): void {}

  release(): void {}
}

export function picker(ctx: ToolContext): PickerTool {
  return new PickerTool(ctx);
}
