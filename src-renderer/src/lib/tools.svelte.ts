/**
 * The annotation tool state shared by the tool palette and (next) the Konva label canvas. Kept out
 * of any component so the canvas can read it without prop drilling; it holds settings only, never
 * stroke pixels (those live in an offscreen raster owned by the canvas).
 */
export type ToolName = 'brush' | 'eraser' | 'fill';

export const TOOLS: Array<{ name: ToolName; label: string; key: string }> = [
  { name: 'brush', label: 'Brush', key: 'b' },
  { name: 'eraser', label: 'Eraser', key: 'e' },
  { name: 'fill', label: 'Fill', key: 'f' },
];

export const BRUSH_MIN = 1;
export const BRUSH_MAX = 128;

export const tools = $state({
  tool: 'brush' as ToolName,
  /** Class painted by brush and fill; null until the person picks one (or the first class is chosen). */
  classId: null as number | null,
  brushSize: 16,
});

export function setBrushSize(size: number): void {
  tools.brushSize = Math.min(BRUSH_MAX, Math.max(BRUSH_MIN, Math.round(size)));
}
