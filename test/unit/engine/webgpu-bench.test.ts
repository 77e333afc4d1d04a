/**
 * `bench speed` over backends: one that cannot start (or is unknown) is a row with its reason, not
 * a crash; rows of a webgpu run carry the adapter. Tiny sizes: correctness of the rows, not speed.
 */
import { installed } from '../../helpers/installed';
import { describe, expect, it, vi } from 'vitest';
import { benchSpeed } from '../../../src-main/studies/speed.js';


describe('bench speed backend rows', () => {
  it('a backend that cannot start is a row per method and size with its reason; the others are timed; webgpu rows name the adapter', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const hasNative = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');
    try {
      const r = (await benchSpeed({
        backends: ['nonsense' as never, ...(hasNative ? [] : ['tensorflow' as const]), 'wasm', 'webgpu'],
        methods: ['gradcam', 'lrp'],
        sizes: [16],
        batch: 2,
        steps: 1,
        warmup: 0,
        backbone: 'small',
        classes: 3,
        tagsPerImage: 2,
        inference: false,
      })) as { rows: Array<Record<string, unknown>> };
      const by = (b: string) => r.rows.filter((row) => row.backend === b);
      expect(by('nonsense').map((row) => [row.method, row.ms_per_step])).toEqual([
        ['gradcam', null],
        ['lrp', null],
      ]);
      expect(by('nonsense')[0]!.error).toMatch(/^unknown backend 'nonsense'/);
      if (!hasNative) {
        expect(by('tensorflow')).toHaveLength(2);
        expect(by('tensorflow')[0]!.error).toMatch(/^backend 'tensorflow' is unavailable: .*not installed/);
      }
      expect(by('wasm').map((row) => row.method)).toEqual(['gradcam', 'lrp']);
      for (const row of by('wasm')) {
        expect(row.ms_per_step).toBeGreaterThan(0);
        expect(row.adapter).toBeNull();
      }
      const gpu = by('webgpu');
      expect(gpu).toHaveLength(2);
      if (gpu[0]!.error) {
        // no adapter here: the reason says what is missing
        expect(gpu[0]!.error).toMatch(/^backend 'webgpu' is unavailable: /);
        console.warn(`webgpu bench rows: ${String(gpu[0]!.error)}`);
      } else {
        for (const row of gpu) {
          expect(row.ms_per_step).toBeGreaterThan(0);
          expect(row.adapter).toMatchObject({ vendor: expect.any(String), architecture: expect.any(String), description: expect.any(String) });
          expect(String(row.backend_detail)).toMatch(/^webgpu on /);
        }
      }
    } finally {
      stderr.mockRestore();
    }
  });
});
