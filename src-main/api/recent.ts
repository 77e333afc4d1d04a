/** The list of recently opened projects, kept in a small JSON file in the user's config folder. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MAX_RECENT = 10;

export function defaultConfigDir(): string {
  if (process.env.HEATSEG_CONFIG_DIR) return process.env.HEATSEG_CONFIG_DIR;
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? os.homedir(), 'heatseg');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Application Support', 'heatseg');
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'heatseg');
}

export class RecentProjects {
  private items: string[] = [];
  /** `file` null keeps the list in memory only (tests). */
  constructor(private readonly file: string | null) {
    if (file && fs.existsSync(file)) {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
        if (Array.isArray(parsed)) this.items = parsed.filter((p): p is string => typeof p === 'string').slice(0, MAX_RECENT);
      } catch {
        // A damaged recent list is not worth failing start-up for; it is rewritten on the next open.
      }
    }
  }

  static inConfigDir(): RecentProjects {
    return new RecentProjects(path.join(defaultConfigDir(), 'recent.json'));
  }

  list(): string[] {
    return [...this.items];
  }

  add(dir: string): void {
    this.items = [dir, ...this.items.filter((p) => p !== dir)].slice(0, MAX_RECENT);
    if (!this.file) return;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, JSON.stringify(this.items, null, 1));
    } catch {
      // Read-only config folder: the list stays in memory for this run.
    }
  }
}
