import fs from 'node:fs';
import { resourcePath } from './paths.js';

let cached: string | undefined;
export function appVersion(): string {
  if (cached) return cached;
  try {
    cached = (JSON.parse(fs.readFileSync(resourcePath('package.json'), 'utf8')) as { version: string }).version;
  } catch {
    cached = '0.0.0';
  }
  return cached;
}
