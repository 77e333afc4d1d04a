/**
 * Pan (middle button, or Space held with the left one): the view follows the pointer from where the
 * press caught it; the scale stays. Nothing is painted.
 */
import type { Sample } from '../view';
import type { Tool, ToolContext } from './tool';

export class PanTool implements Tool {
  private start: { stageX: number; stageY: number; x: number; y: number } | null = null;

  constructor(private readonly ctx: ToolContext) {}

  get cursor(): string {
    return this.start ? 'grabbing' : 'grab';
  }

  outline(): null {
    return null;
  }

  press(at: Sample): boolean {
    const { view } = this.ctx;
    this.start = { stageX: at.stageX, stageY: at.stageY, x: view.x, y: view.y };
    return true;
  }

  move(at: Sample): void {
    const s = this.start;
    if (!s) return;
    const { view } = this.ctx;
    view.set(view.scale, s.x + at.stageX - s.stageX, s.y + at.stageY - s.stageY);
  }

  release(): void {
    this.start = null;
  }
}

export function pan(ctx: ToolContext): PanTool {
  return new PanTool(ctx);
}
