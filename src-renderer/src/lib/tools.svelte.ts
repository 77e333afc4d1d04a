/**
 * The annotation tool state shared by the tool palette, the inspector and the Konva label canvas.
 * Kept out of any component so the canvas can read it without prop drilling; it holds settings
 * only, never stroke pixels (those live in the label raster owned by the canvas).
 */
export type ToolName = 'brush' | 'eraser' | 'fill' | 'picker';

export const TOOLS: Array<{ name: ToolName; label: string; key: string }> = [
  { name: 'brush', label: 'Brush', key: 'b' },
  { name: 'eraser', label: 'Eraser', key: 'e' },
  { name: 'fill', label: 'Fill similar colour', key: 'f' },
  { name: 'picker', label: 'Pick class from labels', key: 'i' },
];

export const BRUSH_MIN = 1;
export const BRUSH_MAX = 128;
export const TOLERANCE_MAX = 255;

export const tools = $state({
  tool: 'brush' as ToolName,
  /** Class painted by brush and fill; null until the person picks one (or the first class is chosen). */
  classId: null as number | null,
  brushSize: 16,
  /** The eraser keeps its own size: switching tools does not resize either. */
  eraserSize: 24,
  /** Fill: largest difference per RGB channel from the clicked pixel that still counts as the same colour. */
  tolerance: 24,
  /** Opacity of the label layer (0..1), and whether it is shown at all. */
  labelOpacity: 0.6,
  labelsVisible: true,
  /** Brush and fill write only unlabelled pixels, so painting up to a labelled region never overwrites it. */
  preserveLabels: false,
});

function clampSize(size: number): number {
  return Math.min(BRUSH_MAX, Math.max(BRUSH_MIN, Math.round(size)));
}

export function setBrushSize(size: number): void {
  tools.brushSize = clampSize(size);
}

export function setEraserSize(size: number): void {
  tools.eraserSize = clampSize(size);
}

/** Size of the tool in hand (the eraser's own for the eraser, the brush's otherwise). */
export function activeSize(): number {
  return tools.tool === 'eraser' ? tools.eraserSize : tools.brushSize;
}

export function setActiveSize(size: number): void {
  if (tools.tool === 'eraser') setEraserSize(size);
  else setBrushSize(size);
}

/** One step of [ / ] or the wheel: about 20%, and at least one pixel. */
export function stepSize(current: number, direction: 1 | -1): number {
  const next = direction > 0 ? Math.max(current + 1, current * 1.2) : Math.min(current - 1, current / 1.2);
  return clampSize(next);
}

export function setTolerance(t: number): void {
  tools.tolerance = Math.min(TOLERANCE_MAX, Math.max(0, Math.round(t)));
}

export function setLabelOpacity(o: number): void {
  tools.labelOpacity = Math.min(1, Math.max(0.1, Math.round(o * 100) / 100));
}
