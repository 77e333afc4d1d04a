/**
 * The label canvas's tools as small state machines (napari): press starts at a sample, move extends
 * what press opened, release ends it. A tool sees image-space samples and a context (the raster,
 * the tool settings, the classes, the save path, the view); it knows nothing of Konva or of pointer
 * and key events, which LabelCanvas turns into samples and routes to the tool in hand.
 */
import type { ClassInfo } from '../../../../src-shared/api';
import type { LabelRaster, StrokeChanges } from '../raster';
import type { ToolName } from '../tools.svelte';
import type { Sample, View } from '../view';

/** The settings tools read (and the picker writes): lib/tools.svelte's `tools` in the app. */
export interface ToolSettings {
  tool: ToolName;
  classId: number | null;
  brushSize: number;
  eraserSize: number;
  tolerance: number;
  preserveLabels: boolean;
}

export interface ToolContext {
  /** The open image's label raster (replaced when its labels are reloaded). */
  readonly raster: LabelRaster;
  readonly settings: ToolSettings;
  readonly classes: readonly Pick<ClassInfo, 'id' | 'name' | 'labelValue'>[];
  readonly view: View;
  /** Why nothing painted on this image can be saved (the server says it no longer exists), or null. */
  unsaveable(): string | null;
  /** Records finished changes as one undo step and saves them; false when they changed nothing. */
  commit(changes: StrokeChanges, label: string): boolean;
  /** The image's RGBA pixels, what fill compares colours in. */
  imagePixels(): Uint8ClampedArray;
  /** A short message for the status line. */
  message(text: string, tone?: 'info' | 'error'): void;
  /** Shows what changed, at the next animation frame. */
  redraw(): void;
}

export interface Tool {
  /** CSS cursor over the canvas while this tool is in hand. */
  readonly cursor: string;
  /** The brush outline the canvas draws at the pointer (diameter in image pixels, colour), or null for none. */
  outline(): { size: number; colour: string } | null;
  /** Acts at `at`; true when that opened a gesture, which move and release then continue. */
  press(at: Sample): boolean;
  move(at: Sample): void;
  /**
   * Ends the open gesture; `at` is the pointer's last sample when there is one (not when focus was
   * lost, the pen lifted or the labels reloaded: what the gesture did so far is kept all the same).
   */
  release(at?: Sample): void;
}

/**
 * The label value a painting tool writes (0 for the eraser, the chosen class's otherwise), or null,
 * having said why, when it cannot paint.
 */
export function paintValue(ctx: ToolContext, erase: boolean): number | null {
  const gone = ctx.unsaveable();
  if (gone) {
    ctx.message(`This image no longer exists, so nothing painted on it can be saved (${gone}).`, 'error');
    return null;
  }
  if (erase) return 0;
  const v = ctx.classes.find((c) => c.id === ctx.settings.classId)?.labelValue ?? null;
  if (v === null) ctx.message('Add a class (left sidebar) to paint with.', 'error');
  return v;
}
