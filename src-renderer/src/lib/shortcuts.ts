/**
 * Every keyboard shortcut of the image view in one table: the key handler matches against it and
 * the help overlay (?) lists it, so the two cannot drift apart. Pure TypeScript.
 */

export type ShortcutAction =
  | 'tool.brush'
  | 'tool.eraser'
  | 'tool.fill'
  | 'tool.picker'
  | 'preserve.toggle'
  | 'size.down'
  | 'size.up'
  | 'class.pick'
  | 'tag.toggle'
  | 'undo'
  | 'redo'
  | 'zoom.in'
  | 'zoom.out'
  | 'zoom.fit'
  | 'zoom.actual'
  | 'labels.toggle'
  | 'opacity.down'
  | 'opacity.up'
  | 'image.prev'
  | 'image.next'
  | 'back'
  | 'help'
  | 'cursor.left'
  | 'cursor.right'
  | 'cursor.up'
  | 'cursor.down'
  | 'cursor.apply';

export interface KeyLike {
  key: string;
  code: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

export interface Shortcut {
  action: ShortcutAction;
  /** As shown in the help overlay. */
  keys: string[];
  description: string;
  group: 'Tools' | 'Classes and tags' | 'History' | 'View' | 'Images' | 'Keyboard painting (canvas focused)';
  /** Only while the label canvas has keyboard focus. */
  canvasOnly?: boolean;
  match: (e: KeyLike, mod: boolean) => boolean | number;
}

/** Digit 1–9 from the physical key (Shift+1 gives '!' as e.key on most layouts). */
function digit(e: KeyLike): number {
  const m = /^(?:Digit|Numpad)([1-9])$/.exec(e.code);
  if (m) return Number(m[1]);
  return /^[1-9]$/.test(e.key) ? Number(e.key) : 0;
}

const plain = (e: KeyLike, mod: boolean) => !mod && !e.altKey;
const letter = (ch: string) => (e: KeyLike, mod: boolean) => plain(e, mod) && !e.shiftKey && e.key.toLowerCase() === ch;

export const SHORTCUTS: Shortcut[] = [
  { action: 'tool.brush', keys: ['B'], description: 'Brush', group: 'Tools', match: letter('b') },
  { action: 'tool.eraser', keys: ['E'], description: 'Eraser (has its own size)', group: 'Tools', match: letter('e') },
  { action: 'tool.fill', keys: ['F'], description: 'Fill a region of similar colour', group: 'Tools', match: letter('f') },
  { action: 'tool.picker', keys: ['I'], description: 'Pick the class under the pointer', group: 'Tools', match: letter('i') },
  {
    action: 'preserve.toggle',
    keys: ['P'],
    description: 'Preserve labels: brush and fill paint only unlabelled pixels',
    group: 'Tools',
    match: letter('p'),
  },
  { action: 'size.down', keys: ['['], description: 'Smaller brush / eraser', group: 'Tools', match: (e, mod) => plain(e, mod) && e.key === '[' },
  { action: 'size.up', keys: [']'], description: 'Larger brush / eraser', group: 'Tools', match: (e, mod) => plain(e, mod) && e.key === ']' },
  {
    action: 'class.pick',
    keys: ['1', '…', '9'],
    description: 'Paint with the class at that place in the list',
    group: 'Classes and tags',
    match: (e, mod) => plain(e, mod) && !e.shiftKey && digit(e),
  },
  {
    action: 'tag.toggle',
    keys: ['Shift', '1', '…', '9'],
    description: 'Tag / untag the image with that class',
    group: 'Classes and tags',
    match: (e, mod) => plain(e, mod) && e.shiftKey && digit(e),
  },
  {
    action: 'undo',
    keys: ['Ctrl', 'Z'],
    description: 'Undo the last stroke',
    group: 'History',
    match: (e, mod) => mod && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'z',
  },
  {
    action: 'redo',
    keys: ['Ctrl', 'Shift', 'Z'],
    description: 'Redo (also Ctrl+Y)',
    group: 'History',
    match: (e, mod) => mod && !e.altKey && ((e.shiftKey && e.key.toLowerCase() === 'z') || (!e.shiftKey && e.key.toLowerCase() === 'y')),
  },
  { action: 'zoom.in', keys: ['+'], description: 'Zoom in', group: 'View', match: (e, mod) => plain(e, mod) && (e.key === '+' || e.key === '=') },
  { action: 'zoom.out', keys: ['-'], description: 'Zoom out', group: 'View', match: (e, mod) => plain(e, mod) && (e.key === '-' || e.key === '_') },
  { action: 'zoom.fit', keys: ['Z'], description: 'Zoom to fit', group: 'View', match: letter('z') },
  { action: 'zoom.actual', keys: ['A'], description: 'Actual pixels (1:1)', group: 'View', match: letter('a') },
  { action: 'labels.toggle', keys: ['L'], description: 'Show / hide the labels', group: 'View', match: letter('l') },
  { action: 'opacity.down', keys: [','], description: 'Labels more transparent', group: 'View', match: (e, mod) => plain(e, mod) && e.key === ',' },
  { action: 'opacity.up', keys: ['.'], description: 'Labels more opaque', group: 'View', match: (e, mod) => plain(e, mod) && e.key === '.' },
  {
    action: 'image.prev',
    keys: ['←'],
    description: 'Previous image (PageUp while the canvas has focus)',
    group: 'Images',
    match: (e, mod) => plain(e, mod) && (e.key === 'ArrowLeft' || e.key === 'PageUp'),
  },
  {
    action: 'image.next',
    keys: ['→'],
    description: 'Next image (PageDown while the canvas has focus)',
    group: 'Images',
    match: (e, mod) => plain(e, mod) && (e.key === 'ArrowRight' || e.key === 'PageDown'),
  },
  { action: 'back', keys: ['Esc'], description: 'Back to the grid', group: 'Images', match: (e, mod) => plain(e, mod) && e.key === 'Escape' },
  { action: 'help', keys: ['?'], description: 'This list of shortcuts', group: 'Images', match: (e, mod) => !mod && !e.altKey && e.key === '?' },
  {
    action: 'cursor.left',
    keys: ['←'],
    description: 'Move the brush cursor (Shift: 10× further)',
    group: 'Keyboard painting (canvas focused)',
    canvasOnly: true,
    match: (e, mod) => plain(e, mod) && e.key === 'ArrowLeft',
  },
  {
    action: 'cursor.right',
    keys: ['→'],
    description: 'Move the brush cursor right',
    group: 'Keyboard painting (canvas focused)',
    canvasOnly: true,
    match: (e, mod) => plain(e, mod) && e.key === 'ArrowRight',
  },
  {
    action: 'cursor.up',
    keys: ['↑'],
    description: 'Move the brush cursor up',
    group: 'Keyboard painting (canvas focused)',
    canvasOnly: true,
    match: (e, mod) => plain(e, mod) && e.key === 'ArrowUp',
  },
  {
    action: 'cursor.down',
    keys: ['↓'],
    description: 'Move the brush cursor down',
    group: 'Keyboard painting (canvas focused)',
    canvasOnly: true,
    match: (e, mod) => plain(e, mod) && e.key === 'ArrowDown',
  },
  {
    action: 'cursor.apply',
    keys: ['Enter'],
    description: 'Brush / eraser: put the pen down or lift it (Esc lifts it too; moves paint while down); fill / pick: apply at the cursor',
    group: 'Keyboard painting (canvas focused)',
    canvasOnly: true,
    match: (e, mod) => plain(e, mod) && e.key === 'Enter',
  },
];

/** Pointer gestures, listed in the help overlay next to the keys. */
export const GESTURES: Array<{ keys: string[]; description: string }> = [
  { keys: ['Drag'], description: 'Paint with the brush or eraser; click to fill or pick' },
  { keys: ['Space', 'Drag'], description: 'Pan (also the middle mouse button)' },
  { keys: ['Wheel'], description: 'Zoom around the pointer' },
  { keys: ['Ctrl', 'Wheel'], description: 'Brush / eraser size (also Alt+Wheel)' },
];

/** Keys of the image grid (handled by the grid itself), listed in the help overlay too. */
export const GRID_KEYS: Array<{ keys: string[]; description: string }> = [
  { keys: ['←', '→', '↑', '↓'], description: 'Move between cards (Home, End, PageUp, PageDown jump)' },
  { keys: ['Enter'], description: 'Open the image' },
  { keys: ['X'], description: 'Select the card for bulk tagging (Shift+X: a range)' },
  { keys: ['Shift', '1', '…', '9'], description: 'Tag / untag with that class: the selection if the card is in it (or no card is focused), else the card' },
  { keys: ['Ctrl', 'Z'], description: 'Undo the last tag change in the grid (Ctrl+Shift+Z, Ctrl+Y: redo)' },
  { keys: ['Ctrl', 'Click'], description: 'Select a card (Shift+Click: a range)' },
  { keys: ['?'], description: 'This list of shortcuts' },
];

export interface Matched {
  action: ShortcutAction;
  /** The digit of class.pick / tag.toggle. */
  n: number;
}

/**
 * The shortcut a key press means, or null. `canvasFocused` turns arrows and Enter into keyboard
 * painting (arrow keys then no longer change image: PageUp / PageDown do).
 */
export function matchShortcut(e: KeyLike, canvasFocused = false): Matched | null {
  const mod = e.ctrlKey || e.metaKey;
  for (const s of SHORTCUTS) {
    if (s.canvasOnly && !canvasFocused) continue;
    if (canvasFocused && (s.action === 'image.prev' || s.action === 'image.next') && e.key.startsWith('Arrow')) continue;
    const m = s.match(e, mod);
    if (m === false || m === 0) continue;
    return { action: s.action, n: typeof m === 'number' ? m : 0 };
  }
  return null;
}
