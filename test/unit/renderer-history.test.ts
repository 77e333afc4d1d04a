import { describe, expect, it } from 'vitest';
import { History, HistoryBook, HISTORY_LIMIT, type HistoryEntry } from '../../src-renderer/src/lib/history';

/** An entry that adds `n` to a shared counter, like a stroke on a raster. */
function adder(state: { value: number; log: string[] }, n: number): HistoryEntry {
  state.value += n;
  return {
    label: `add ${n}`,
    undo: () => {
      state.value -= n;
      state.log.push(`undo ${n}`);
    },
    redo: () => {
      state.value += n;
      state.log.push(`redo ${n}`);
    },
  };
}

describe('History', () => {
  it('undoes and redoes in order, one entry per step', () => {
    const s = { value: 0, log: [] as string[] };
    const h = new History();
    h.push(adder(s, 1));
    h.push(adder(s, 10));
    expect(s.value).toBe(11);
    expect(h.undo()?.label).toBe('add 10');
    expect(s.value).toBe(1);
    expect(h.undo()?.label).toBe('add 1');
    expect(s.value).toBe(0);
    expect(h.undo()).toBeNull();
    expect(h.canUndo).toBe(false);
    expect(h.redo()?.label).toBe('add 1');
    expect(h.redo()?.label).toBe('add 10');
    expect(h.redo()).toBeNull();
    expect(s.value).toBe(11);
    expect(s.log).toEqual(['undo 10', 'undo 1', 'redo 1', 'redo 10']);
  });

  it('a new action clears the redo side', () => {
    const s = { value: 0, log: [] as string[] };
    const h = new History();
    h.push(adder(s, 1));
    h.push(adder(s, 2));
    h.undo();
    expect(h.canRedo).toBe(true);
    h.push(adder(s, 5));
    expect(h.canRedo).toBe(false);
    expect(h.redo()).toBeNull();
    expect(s.value).toBe(6);
  });

  it('is bounded: only the latest `limit` entries can be undone (128 by default)', () => {
    expect(HISTORY_LIMIT).toBe(128);
    const s = { value: 0, log: [] as string[] };
    const h = new History();
    for (let i = 1; i <= 200; i++) h.push(adder(s, i));
    expect(h.undoSize).toBe(128);
    let undone = 0;
    while (h.undo()) undone++;
    expect(undone).toBe(128);
    // The 72 oldest stay applied: 1 + … + 72.
    expect(s.value).toBe((72 * 73) / 2);
    expect(h.redoSize).toBe(128);
    expect(() => new History(0)).toThrow(/at least 1/);
  });
});

describe('HistoryBook', () => {
  it('keeps one history per image and forgets the least recently used beyond its size', () => {
    const book = new HistoryBook(2, 4);
    const s = { value: 0, log: [] as string[] };
    book.of(1).push(adder(s, 1));
    book.of(2).push(adder(s, 2));
    expect(book.of(1).undoSize).toBe(1); // 1 is now the most recent
    expect(book.peek(2)?.undoSize).toBe(1); // peeking does not make 2 recent
    book.of(3).push(adder(s, 3)); // evicts 2
    expect(book.has(2)).toBe(false);
    expect(book.has(1)).toBe(true);
    expect(book.of(1).limit).toBe(4);
    book.drop(1);
    expect(book.has(1)).toBe(false);
    book.clear();
    expect(book.has(3)).toBe(false);
  });
});
