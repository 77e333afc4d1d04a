/** The eraser: a brush stroke that writes 0 (unlabelled) at its own size, whatever "preserve labels" says. */
import { StrokeTool } from './brush';
import type { ToolContext } from './tool';

export function eraser(ctx: ToolContext): StrokeTool {
  return new StrokeTool(ctx, true);
}
