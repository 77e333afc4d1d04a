import { describe, expect, it } from 'vitest';
import { SHORTCUTS, matchShortcut, type KeyLike } from '../../src-renderer/src/lib/shortcuts';

function key(k: string, mods: Partial<KeyLike> = {}): KeyLike {
  const code = /^[0-9]$/.test(k) ? `Digit${k}` : /^[a-z]$/i.test(k) ? `Key${k.toUpperCase()}` : '';
  return { key: k, code, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods };
}

describe('shortcuts', () => {
  it('every listed shortcut is matched by the keys the help overlay shows', () => {
    const shown: Record<string, KeyLike> = {
      '←': key('ArrowLeft'),
      '→': key('ArrowRight'),
      '↑': key('ArrowUp'),
      '↓': key('ArrowDown'),
      Esc: key('Escape'),
      Enter: key('Enter'),
    };
    for (const s of SHORTCUTS) {
      const keys = s.keys.filter((k) => k !== '…');
      const mods: Partial<KeyLike> = { ctrlKey: keys.includes('Ctrl'), shiftKey: keys.includes('Shift') };
      const main = keys.filter((k) => k !== 'Ctrl' && k !== 'Shift')[0]!;
      let e = shown[main] ?? key(main.length === 1 && /[A-Z]/.test(main) ? main.toLowerCase() : main);
      e = { ...e, ...mods };
      if (mods.shiftKey && /^[a-z]$/.test(e.key)) e = { ...e, key: e.key.toUpperCase() };
      if (mods.shiftKey && /^[0-9]$/.test(e.key)) e = { ...e, key: '!' }; // what Shift+1 gives on a US layout
      expect(matchShortcut(e, !!s.canvasOnly)?.action, `${s.action} (${s.keys.join('+')})`).toBe(s.action);
    }
  });

  it('digits pick classes, Shift+digits toggle tags (by physical key), modifiers are respected', () => {
    expect(matchShortcut(key('3'))).toEqual({ action: 'class.pick', n: 3 });
    expect(matchShortcut({ ...key('3'), key: '#', shiftKey: true })).toEqual({ action: 'tag.toggle', n: 3 });
    expect(matchShortcut(key('z', { ctrlKey: true }))?.action).toBe('undo');
    expect(matchShortcut(key('z', { metaKey: true }))?.action).toBe('undo');
    expect(matchShortcut(key('Z', { ctrlKey: true, shiftKey: true }))?.action).toBe('redo');
    expect(matchShortcut(key('y', { ctrlKey: true }))?.action).toBe('redo');
    expect(matchShortcut(key('z'))?.action).toBe('zoom.fit');
    expect(matchShortcut(key('b', { ctrlKey: true }))).toBeNull();
    expect(matchShortcut(key('0'))).toBeNull();
    expect(matchShortcut(key('?', { shiftKey: true }))?.action).toBe('help');
  });

  it('arrow keys change image, except while the canvas has focus: then they move the brush', () => {
    expect(matchShortcut(key('ArrowRight'))?.action).toBe('image.next');
    expect(matchShortcut(key('ArrowRight'), true)?.action).toBe('cursor.right');
    expect(matchShortcut(key('PageDown'), true)?.action).toBe('image.next');
    expect(matchShortcut(key('Enter'))).toBeNull();
    expect(matchShortcut(key('Enter'), true)?.action).toBe('cursor.apply');
  });
});
