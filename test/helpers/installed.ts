/** Whether a package resolves from the test tree (optional backends such as tfjs-node). */
import { createRequire } from 'node:module';

export function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
