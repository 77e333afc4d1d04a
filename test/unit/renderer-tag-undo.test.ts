import { describe, expect, it } from 'vitest';
import type { ImageSummary } from '../../src-shared/api';
import { History } from '../../src-renderer/src/lib/history';
import { TagUndo, type TagCalls } from '../../src-renderer/src/lib/tag-undo';

/** A fake server holding image tags, answering slowly and out of order unless the caller waits. */
function fakeServer(initial: Record<number, number[]>) {
  const tags = new Map(Object.entries(initial).map(([k, v]) => [Number(k), new Set(v)]));
  const log: string[] = [];
  const summary = (id: number): ImageSummary => ({ id, originalName: `${id}.png`, width: 1, height: 1, status: 'active', tags: [...tags.get(id)!].sort(), labelledPixels: 0 });
  const calls: TagCalls = {
    toggle: async (id, classId, on) => {
      await new Promise((r) => setTimeout(r, on ? 15 : 1)); // "on" answers slower: order must still hold
      if (!tags.has(id)) throw new Error(`no image with id ${id}`);
      tags.get(id)![on ? 'add' : 'delete'](classId);
      log.push(`toggle ${id} ${classId} ${on}`);
      return summary(id);
    },
    bulk: async (ids, classId, on) => {
      const changedIds = ids.filter((id) => {
        const had = tags.get(id)!.has(classId);
        tags.get(id)![on ? 'add' : 'delete'](classId);
        return had !== on;
      });
      log.push(`bulk ${ids.join(',')} ${classId} ${on}`);
      return { changed: changedIds.length, changedIds };
    },
  };
  return { tags: (id: number) => [...tags.get(id)!].sort(), log, calls };
}

describe('TagUndo', () => {
  it('undoes and redoes a toggle as one history step, requests in the order pressed', async () => {
    const server = fakeServer({ 1: [] });
    const applied: Array<number[] | null> = [];
    const undo = new TagUndo(server.calls, { onApplied: (u) => applied.push(u?.tags ?? null), onError: (m) => applied.push([-1, m.length]) });
    const h = new History();
    await server.calls.toggle(1, 7, true);
    h.push(undo.toggle({ id: 1, originalName: '1.png' }, { id: 7, name: 'cat' }, true));
    expect(h.undo()?.label).toBe('Tag cat');
    h.redo();
    h.undo();
    await undo.idle();
    expect(server.tags(1)).toEqual([]);
    expect(server.log.slice(1)).toEqual(['toggle 1 7 false', 'toggle 1 7 true', 'toggle 1 7 false']);
    expect(applied).toEqual([[], [7], []]);
  });

  it('a bulk add undoes only on the images it changed, in one step', async () => {
    const server = fakeServer({ 1: [7], 2: [], 3: [] });
    const undo = new TagUndo(server.calls, { onApplied: () => undefined, onError: () => undefined });
    const h = new History();
    const r = await server.calls.bulk([1, 2, 3], 7, true);
    expect(r.changedIds).toEqual([2, 3]);
    h.push(undo.bulk(r.changedIds, { id: 7, name: 'cat' }, true)!);
    expect(h.undo()?.label).toBe('Tag 2 images with cat');
    await undo.idle();
    expect([server.tags(1), server.tags(2), server.tags(3)]).toEqual([[7], [], []]);
    h.redo();
    await undo.idle();
    expect([server.tags(1), server.tags(2), server.tags(3)]).toEqual([[7], [7], [7]]);
    expect(undo.bulk([], { id: 7, name: 'cat' }, false)).toBeNull();
  });

  it('a bulk remove is undone by adding the tag back', async () => {
    const server = fakeServer({ 1: [7], 2: [7, 8] });
    const undo = new TagUndo(server.calls, { onApplied: () => undefined, onError: () => undefined });
    const r = await server.calls.bulk([1, 2], 7, false);
    const entry = undo.bulk(r.changedIds, { id: 7, name: 'cat' }, false)!;
    expect(entry.label).toBe('Remove cat from 2 images');
    entry.undo();
    await undo.idle();
    expect([server.tags(1), server.tags(2)]).toEqual([[7], [7, 8]]);
  });

  it('reports a failed undo (image deleted meanwhile) and keeps going', async () => {
    const server = fakeServer({ 1: [] });
    const errors: string[] = [];
    const undo = new TagUndo(server.calls, { onApplied: () => undefined, onError: (m) => errors.push(m) });
    undo.toggle({ id: 99, originalName: '99.png' }, { id: 7, name: 'cat' }, true).undo();
    undo.toggle({ id: 1, originalName: '1.png' }, { id: 7, name: 'cat' }, false).undo();
    await undo.idle();
    expect(errors).toEqual(['Undo of tag cat failed: no image with id 99']);
    expect(server.tags(1)).toEqual([7]);
  });
});
