import { describe, expect, it } from 'vitest';
import { SaveQueue, defaultBackoff, type PatchJob, type SaveStatus } from '../../src-renderer/src/lib/savequeue';

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
});
