/** Keyboard helpers: shortcuts must not fire while a person types or while a dialog or popover is up. */

const NOT_TEXT = ['checkbox', 'radio', 'range', 'color', 'button', 'submit', 'reset'];

export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !NOT_TEXT.includes(target.type);
}

/** Controls that use the arrow keys themselves (a slider, a radio group): arrows must reach them. */
export function ownsArrowKeys(target: EventTarget | null): boolean {
  return target instanceof HTMLInputElement && (target.type === 'range' || target.type === 'radio');
}

export function overlayOpen(): boolean {
  return document.querySelector('dialog[open], [popover]:popover-open') !== null;
}
