import { describe, expect, it } from 'vitest';
import { SaveQueue, defaultBackoff, type PatchJob, type SaveStatus } from '../../src-renderer/src/lib/savequeue';
import { StoragePatchJournal, type JournalCodec, type KeyValueStorage } from '../../src-renderer/src/lib/pending-journal';

function job(imageId: number, n: number): PatchJob {
  return { imageId, rect: { x: n, y: 0, width: 1, height: 1 }, data: `d${n}`, patch: new Uint8Array([n]), label: `stroke ${n}` };
}

class Fail extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A fake clock and server: calls are recorded; each reply is decided by `answer`. */
function harness(answer: (j: PatchJob, attempt: number) => 'ok' | Fail) {
  const sent: string[] = [];
  const attempts = new Map<string, number>();
  const timers: Array<{ at: number; fn: () => void }> = [];
  let now = 0;
  const statuses: SaveStatus[] = [];
  const saved: string[] = [];
  const refused: string[] = [];
  const q = new SaveQueue(
    async (j) => {
      const a = (attempts.get(j.data) ?? 0) + 1;
      attempts.set(j.data, a);
      sent.push(j.data);
      await Promise.resolve();
      const r = answer(j, a);
      if (r !== 'ok') throw r;
      return { revision: sent.length, labelledPixels: 1 };
    },
    {
      now: () => now,
      setTimer: (fn, ms) => {
        const t = { at: now + ms, fn };
        timers.push(t);
        return t;
      },
      clearTimer: (t) => timers.splice(timers.indexOf(t as (typeof timers)[number]), 1),
      onStatus: (s) => statuses.push(s),
      onSaved: (j) => saved.push(j.data),
      onRefused: (j, message, code) => refused.push(`${j.data}:${code}:${message}`),
    },
  );
  const settle = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  const advance = async (ms: number) => {
    now += ms;
    for (const t of timers.filter((t) => t.at <= now)) {
      timers.splice(timers.indexOf(t), 1);
      t.fn();
      await settle();
    }
  };
  return { q, sent, statuses, saved, refused, timers, settle, advance };
}

describe('SaveQueue', () => {
  it('sends patches one at a time, in order, and reports saved only when all are confirmed', async () => {
    const h = harness(() => 'ok');
    h.q.enqueue(job(1, 1));
    h.q.enqueue(job(1, 2));
    h.q.enqueue(job(2, 3));
    expect(h.q.status().state).toBe('saving');
    expect(h.q.pendingFor(1).map((j) => j.data)).toEqual(['d1', 'd2']);
    await h.settle();
    expect(h.sent).toEqual(['d1', 'd2', 'd3']);
    expect(h.saved).toEqual(['d1', 'd2', 'd3']);
    expect(h.q.status()).toMatchObject({ state: 'saved', pending: 0 });
    await h.q.idle();
  });

  it('retries a failed write with exponential backoff and never drops it', async () => {
    const h = harness((j, attempt) => (j.data === 'd1' && attempt <= 3 ? new Fail('io', 'disk busy') : 'ok'));
    h.q.enqueue(job(1, 1));
    h.q.enqueue(job(1, 2));
    await h.settle();
    expect(h.q.status()).toMatchObject({ state: 'retrying', pending: 2, message: 'disk busy', attempts: 1, retryAt: 250 });
    await h.advance(250);
    expect(h.q.status()).toMatchObject({ state: 'retrying', attempts: 2, retryAt: 750 });
    await h.advance(499);
    expect(h.sent).toEqual(['d1', 'd1']); // still waiting
    await h.advance(1);
    expect(h.q.status()).toMatchObject({ state: 'retrying', attempts: 3 });
    // "Retry now" skips the wait; d2 was never sent before d1 went through.
    h.q.retryNow();
    await h.settle();
    expect(h.sent).toEqual(['d1', 'd1', 'd1', 'd1', 'd2']);
    expect(h.q.status().state).toBe('saved');
    expect(h.refused).toEqual([]);
  });

  it('a transport error without a code is retried too', async () => {
    const h = harness((_j, attempt) => (attempt === 1 ? (new Error('Failed to fetch') as Fail) : 'ok'));
    h.q.enqueue(job(1, 1));
    await h.settle();
    expect(h.q.status().state).toBe('retrying');
    await h.advance(250);
    expect(h.q.status().state).toBe('saved');
  });

  it('reports a refusal (deleted image) and drops that image’s later patches, keeping others', async () => {
    const h = harness((j) => (j.imageId === 7 ? new Fail('not_found', 'no image with id 7') : 'ok'));
    h.q.enqueue(job(7, 1));
    h.q.enqueue(job(8, 2));
    h.q.enqueue(job(7, 3));
    await h.settle();
    expect(h.sent).toEqual(['d1', 'd2']);
    expect(h.refused).toEqual(['d1:not_found:no image with id 7']);
    expect(h.q.status()).toMatchObject({ state: 'saved', pending: 0, refusal: 'stroke 1 not saved: no image with id 7' });
    h.q.dismiss();
    expect(h.q.status().refusal).toBe('');
  });

  it('backs off 250 ms doubling, capped at 8 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(defaultBackoff)).toEqual([250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('holds everything on a lost session (401), neither retrying nor dropping, and sends it in order after resume()', async () => {
    let signedIn = false;
    const h = harness(() => (signedIn ? 'ok' : new Fail('unauthorized', 'missing or wrong token')));
    h.q.enqueue(job(1, 1));
    h.q.enqueue(job(2, 2));
    await h.settle();
    expect(h.q.status()).toMatchObject({ state: 'signed-out', pending: 2, message: 'missing or wrong token' });
    expect(h.timers).toHaveLength(0);
    await h.advance(60_000);
    h.q.enqueue(job(1, 3)); // a stroke made meanwhile waits too
    await h.settle();
    expect(h.sent).toEqual(['d1']);
    expect(h.refused).toEqual([]);
    expect(h.q.status()).toMatchObject({ state: 'signed-out', pending: 3 });
    signedIn = true;
    h.q.resume();
    await h.settle();
    expect(h.sent).toEqual(['d1', 'd1', 'd2', 'd3']);
    expect(h.q.status()).toMatchObject({ state: 'saved', pending: 0 });
  });

  it('refuses a patch over the server’s body limit for good (413 too_large), not retrying it forever', async () => {
    const h = harness((j) => (j.data === 'd1' ? new Fail('too_large', 'labels.patch: request body larger than its limit') : 'ok'));
    h.q.enqueue(job(1, 1));
    h.q.enqueue(job(1, 2));
    await h.settle();
    expect(h.sent).toEqual(['d1', 'd2']);
    expect(h.refused).toEqual(['d1:too_large:labels.patch: request body larger than its limit']);
  });
});

class MemoryStorage implements KeyValueStorage {
  readonly map = new Map<string, string>();
  get length() {
    return this.map.size;
  }
  key(i: number) {
    return [...this.map.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

/** A readable stand-in for zlib + base64. */
const codec: JournalCodec = {
  encode: (p) => [...p].join(','),
  decode: (d) => Uint8Array.from(d.split(',').map(Number)),
};

function rawJob(imageId: number, values: number[], label: string): PatchJob {
  return { imageId, rect: { x: 0, y: 0, width: values.length, height: 1 }, data: '', patch: Uint8Array.from(values), label };
}

describe('SaveQueue with a journal (pending patches kept in the page’s storage)', () => {
  it('keeps unconfirmed patches by project and image, and a queue made after a reload sends them, oldest first', async () => {
    const storage = new MemoryStorage();
    const settle = async () => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
    };
    // The first page: the server refuses it (restarted with a new token), three strokes wait.
    const before = new SaveQueue(
      async () => {
        await Promise.resolve();
        throw new Fail('unauthorized', 'missing or wrong token');
      },
      { journal: new StoragePatchJournal(storage, '/p/one', codec) },
    );
    before.enqueue(rawJob(4, [1, 1, 255], 'stroke a'));
    before.enqueue(rawJob(9, [2], 'stroke b'));
    before.enqueue(rawJob(4, [0, 255, 0], 'undo of stroke a'));
    await settle();
    expect(before.status()).toMatchObject({ state: 'signed-out', pending: 3, kept: true });
    const keys = [...storage.map.keys()];
    expect(keys).toHaveLength(3);
    expect(keys.every((k) => k.includes('|/p/one|'))).toBe(true);
    expect(keys.filter((k) => k.includes('|/p/one|4|'))).toHaveLength(2);
    // Something that is not an entry of ours is left alone; a damaged entry of ours is dropped unsent.
    storage.setItem('other-app', 'x');
    storage.setItem('heatseg.pending.v1|/p/one|4|99', '{not json');

    // Another project's journal holds none of them.
    expect(new StoragePatchJournal(storage, '/p/two', codec).load()).toEqual([]);

    // The reloaded page (signed in with the new URL): its queue starts with them and sends them in order.
    const sent: Array<{ imageId: number; data: string; label: string; patch: number[] }> = [];
    const after = new SaveQueue(
      async (j) => {
        sent.push({ imageId: j.imageId, data: j.data, label: j.label, patch: [...j.patch] });
        await Promise.resolve();
        return { revision: sent.length, labelledPixels: 1 };
      },
      { journal: new StoragePatchJournal(storage, '/p/one', codec) },
    );
    expect(after.pendingFor(4).map((j) => [...j.patch])).toEqual([
      [1, 1, 255],
      [0, 255, 0],
    ]);
    await after.idle();
    expect(sent).toEqual([
      { imageId: 4, data: '1,1,255', label: 'stroke a', patch: [1, 1, 255] },
      { imageId: 9, data: '2', label: 'stroke b', patch: [2] },
      { imageId: 4, data: '0,255,0', label: 'undo of stroke a', patch: [0, 255, 0] },
    ]);
    // Confirmed patches leave the storage.
    expect([...storage.map.keys()]).toEqual(['other-app']);
  });

  it('says when a patch could not be kept (storage full) and still sends it', async () => {
    const storage = new MemoryStorage();
    storage.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    let release: () => void = () => undefined;
    const q = new SaveQueue(() => new Promise((r) => (release = () => r({ revision: 1, labelledPixels: 1 }))), {
      journal: new StoragePatchJournal(storage, '/p', codec),
    });
    q.enqueue(rawJob(1, [3], 'stroke'));
    expect(q.status()).toMatchObject({ state: 'saving', pending: 1, kept: false });
    release();
    await q.idle();
    expect(q.status()).toMatchObject({ state: 'saved', kept: true });
  });
});
