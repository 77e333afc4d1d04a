import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temporary folder, removed by the returned cleanup. */
export function tmpDir(prefix = 'heatseg-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const SHARED = path.resolve(__dirname, '../../../shared');
export const MSRC21 = path.join(SHARED, 'datasets/msrc21');
export const hasMsrc21 = fs.existsSync(path.join(MSRC21, 'classes.json'));
export const DARKNET = path.join(SHARED, 'models/darknet-tiny');
export const hasDarknet = fs.existsSync(path.join(DARKNET, 'model.json'));
