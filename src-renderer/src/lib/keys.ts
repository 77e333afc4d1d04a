/** Keyboard helpers: shortcuts must not fire while a person types or while a dialog or popover is up. */

export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !['checkbox', 'button', 'submit', 'reset'].includes(target.type);
}

export function overlayOpen(): boolean {
  return document.querySelector('dialog[open], [popover]:popover-open') !== null;
}
