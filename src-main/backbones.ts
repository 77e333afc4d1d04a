/**
 * Backbones the user can name instead of giving a folder: the pretrained ones shipped under
 * `resources/backbones/<name>/` (TF.js layers models, loaded offline) and 'small', the VGG-style
 * encoder trained from scratch. `darknet-tiny` is the default everywhere (Train panel, CLI, bench,
 * the `train.start` API). A run records the backbone's name (shipped) or its absolute folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { appRoot } from './paths.js';

/** Shipped pretrained backbones: name → what the UI and `--help` say about it. */
export const SHIPPED_BACKBONES = {
  'darknet-tiny': 'Darknet tiny, ImageNet-pretrained (1.05 M parameters, MIT), shipped with heatseg',
} as const;
export type ShippedBackbone = keyof typeof SHIPPED_BACKBONES;

export const DEFAULT_BACKBONE: ShippedBackbone = 'darknet-tiny';
/** The from-scratch option. */
export const SMALL_BACKBONE = 'small';

export function isShippedBackbone(name: string): name is ShippedBackbone {
  return Object.hasOwn(SHIPPED_BACKBONES, name);
}

/**
 * The folder of a shipped backbone: `<app root>/resources/backbones/<name>`. The app root is the
 * repository (tsx, CLI from any working directory, browser mode, tests), the bundled app's root, or
 * the packaged app's resources folder (electron-builder's `extraResources` copies
 * `resources/backbones` to `<resources>/resources/backbones`), see src-main/paths.ts.
 */
export function shippedBackboneDir(name: ShippedBackbone, root = appRoot()): string {
  const dir = path.join(root, 'resources', 'backbones', name);
  if (!fs.existsSync(path.join(dir, 'model.json'))) {
    throw new Error(`the shipped backbone '${name}' is missing: ${dir} has no model.json (a broken installation?)`);
  }
  return dir;
}

export interface ResolvedBackbone {
  /** What a run records: 'small', a shipped backbone's name, or an absolute folder. */
  label: string;
  /** The TF.js layers model folder to load; null for 'small'. */
  dir: string | null;
}

/**
 * A backbone argument → what to load. `undefined` / '' / 'default' → the default shipped backbone;
 * 'small' → from scratch; a shipped name → its folder under resources; anything else is a folder
 * (relative to `cwd`) that must hold model.json.
 */
export function resolveBackbone(arg: string | undefined, cwd = process.cwd()): ResolvedBackbone {
  const name = arg === undefined || arg === '' || arg === 'default' ? DEFAULT_BACKBONE : arg;
  if (name === SMALL_BACKBONE) return { label: SMALL_BACKBONE, dir: null };
  if (isShippedBackbone(name)) return { label: name, dir: shippedBackboneDir(name) };
  const dir = path.resolve(cwd, name);
  if (!fs.existsSync(path.join(dir, 'model.json'))) {
    throw new Error(`${dir}: not a TF.js layers model folder (model.json missing); shipped backbones: ${Object.keys(SHIPPED_BACKBONES).join(', ')}, or 'small' (from scratch)`);
  }
  return { label: dir, dir };
}
