import { untrack } from 'svelte';
import type { Attachment } from 'svelte/attachments';

/**
 * Shows a <dialog> as a modal while `isOpen()` is true and closes it when it turns false:
 * `<dialog {@attach modal(() => open, onShow)} onclose={() => (open = false)}>`. `onShow` runs
 * (untracked) each time it opens the dialog. Esc closes the dialog by itself: its close event is
 * where the component learns of it.
 */
export function modal(isOpen: () => boolean, onShow?: () => void): Attachment<HTMLDialogElement> {
  return (dialog) => {
    const open = isOpen();
    if (open && !dialog.open) {
      dialog.showModal();
      if (onShow) untrack(onShow);
    } else if (!open && dialog.open) dialog.close();
  };
}
