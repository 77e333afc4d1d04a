import { describe, expect, it } from 'vitest';
import { modal } from '../../src-renderer/src/lib/modal';

/** The part of a <dialog> the attachment uses, recording what was asked of it. */
function fakeDialog(open = false) {
  const calls: string[] = [];
  const dialog = {
    open,
    showModal() {
      calls.push('showModal');
      this.open = true;
    },
    close() {
      calls.push('close');
      this.open = false;
    },
  };
  return { dialog, calls, el: dialog as unknown as HTMLDialogElement };
}

describe('modal attachment', () => {
  it('shows a closed dialog as a modal when open, then calls onShow once', () => {
    const { dialog, calls, el } = fakeDialog();
    let shown = 0;
    modal(
      () => true,
      () => {
        calls.push('onShow');
        shown++;
      },
    )(el);
    expect(calls).toEqual(['showModal', 'onShow']);
    expect(dialog.open).toBe(true);
    // Run again while it is still open (another state change): nothing more.
    modal(() => true, () => shown++)(el);
    expect(calls).toEqual(['showModal', 'onShow']);
    expect(shown).toBe(1);
  });

  it('closes an open dialog when no longer open, without calling onShow', () => {
    const { dialog, calls, el } = fakeDialog(true);
    let shown = 0;
    modal(() => false, () => shown++)(el);
    expect(calls).toEqual(['close']);
    expect(dialog.open).toBe(false);
    expect(shown).toBe(0);
  });

  it('leaves a closed dialog closed', () => {
    const { calls, el } = fakeDialog(false);
    modal(() => false)(el);
    expect(calls).toEqual([]);
  });
});
