import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKBONE, resolveBackbone, shippedBackboneDir } from '../../src-main/backbones';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

describe('backbone resolution', () => {
  it('defaults to the shipped darknet-tiny in the repo resources, whatever the working directory', () => {
    expect(DEFAULT_BACKBONE).toBe('darknet-tiny');
    const expected = path.join(REPO, 'resources', 'backbones', 'darknet-tiny');
    for (const arg of [undefined, '', 'default', 'darknet-tiny']) {
      const r = resolveBackbone(arg, os.tmpdir());
      expect(r).toEqual({ label: 'darknet-tiny', dir: expected });
    }
    expect(fs.existsSync(path.join(expected, 'model.json'))).toBe(true);
    expect(fs.readFileSync(path.join(expected, 'LICENSE'), 'utf8')).toMatch(/MIT License/);
    // every weight shard the model.json names is shipped
    const manifest = JSON.parse(fs.readFileSync(path.join(expected, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
    for (const p of manifest.weightsManifest.flatMap((g) => g.paths)) expect(fs.existsSync(path.join(expected, p))).toBe(true);
  });

  it("keeps 'small' (from scratch) and folders (relative to the cwd), and names the problem of a bad folder", () => {
    expect(resolveBackbone('small')).toEqual({ label: 'small', dir: null });
    const shipped = path.join(REPO, 'resources', 'backbones');
    expect(resolveBackbone('darknet-tiny', '/').dir).toBe(path.join(shipped, 'darknet-tiny'));
    expect(resolveBackbone('backbones/darknet-tiny', path.join(REPO, 'resources'))).toEqual({ label: path.join(shipped, 'darknet-tiny'), dir: path.join(shipped, 'darknet-tiny') });
    expect(() => resolveBackbone('no-such-model', os.tmpdir())).toThrow(/no-such-model: not a TF.js layers model folder \(model.json missing\).*darknet-tiny/);
  });

  it("finds the backbone in a packaged app's layout (extraResources: resources/backbones under the resources folder)", () => {
    const res = fs.mkdtempSync(path.join(os.tmpdir(), 'heatseg-res-'));
    try {
      expect(() => shippedBackboneDir('darknet-tiny', res)).toThrow(/shipped backbone 'darknet-tiny' is missing/);
      fs.mkdirSync(path.join(res, 'resources', 'backbones', 'darknet-tiny'), { recursive: true });
      fs.writeFileSync(path.join(res, 'resources', 'backbones', 'darknet-tiny', 'model.json'), '{}');
      expect(shippedBackboneDir('darknet-tiny', res)).toBe(path.join(res, 'resources', 'backbones', 'darknet-tiny'));
      const builder = fs.readFileSync(path.join(REPO, 'electron-builder.yml'), 'utf8');
      expect(builder).toMatch(/- from: resources\/backbones\s+to: resources\/backbones/);
    } finally {
      fs.rmSync(res, { recursive: true, force: true });
    }
  });
});
