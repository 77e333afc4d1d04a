/**
 * `heatseg classes add|rename|rm|list` and `heatseg tag`: editing classes and image tags from the
 * command line (the same store operations as the app). Tags can come from a CSV (image,tags).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CsvError, parse as parseCsv } from 'csv-parse/sync';
import type { ClassInfo } from '../../src-shared/api.js';
import { FileError } from '../json-file.js';
import type { ProjectStore } from '../store/project.js';
import { openProject } from './open.js';

function classNamed(store: ProjectStore, name: string): ClassInfo {
  const c = store.classByName(name.trim());
  if (!c) {
    const known = store.classes().map((k) => k.name);
    throw new Error(`no class named "${name}" in ${store.dir} (classes: ${known.length ? known.join(', ') : 'none yet'}); add it with \`heatseg classes add ${store.dir} ${name}\``);
  }
  return c;
}

interface ImageRef {
  id: number;
  original_name: string;
}

/**
 * The project images an argument names: its name as imported (e.g. `images/cow_1.jpg` or
 * `cow_1.jpg`), a file on disk (matched by content), a unique file name, or `id:N`.
 */
export function findImages(store: ProjectStore, arg: string): ImageRef[] {
  const all = store.db.prepare('SELECT id, original_name, hash FROM images').all() as Array<ImageRef & { hash: string }>;
  const idMatch = /^id:(\d+)$/.exec(arg);
  if (idMatch) {
    const hit = all.filter((i) => i.id === Number(idMatch[1]));
    if (!hit.length) throw new Error(`${arg}: no image with id ${idMatch[1]} in ${store.dir}`);
    return hit;
  }
  const norm = arg.split(path.sep).join('/');
  const exact = all.filter((i) => i.original_name === norm);
  if (exact.length) return exact;
  if (fs.existsSync(arg) && fs.statSync(arg).isFile()) {
    const hash = crypto.createHash('sha256').update(fs.readFileSync(arg)).digest('hex');
    const same = all.filter((i) => i.hash === hash);
    const sameName = same.filter((i) => path.posix.basename(i.original_name) === path.basename(arg));
    if (sameName.length) return sameName;
    if (same.length) return same;
  }
  const byBase = all.filter((i) => path.posix.basename(i.original_name) === path.basename(norm));
  if (byBase.length === 1) return byBase;
  if (byBase.length > 1) {
    throw new Error(`${arg}: ${byBase.length} images have this file name (${byBase.slice(0, 4).map((i) => i.original_name).join(', ')}…); give the name as imported or id:N`);
  }
  throw new Error(`${arg}: no such image in ${store.dir} (give its name as imported, as \`heatseg info\` counts them, a file on disk, or id:N)`);
}

/** Rows of an image,tags CSV: tags separated by ";" or "|". Errors name the file and line, never quote it. */
export function readTagsCsv(file: string): Array<{ line: number; image: string; tags: string[] }> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let rows: Array<Record<string, string>>;
  try {
    rows = parseCsv(text, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true }) as Array<Record<string, string>>;
  } catch (e) {
    const err = e as CsvError & { lines?: number };
    throw new FileError(file, `not a valid CSV (${err instanceof CsvError ? err.code : 'parse error'}${err.lines ? ` at line ${err.lines}` : ''})`);
  }
  if (rows.length && (!('image' in rows[0]!) || !('tags' in rows[0]!))) {
    throw new FileError(file, 'expected a header row with the columns image and tags (tags separated by ";")');
  }
  return rows.map((r, i) => ({
    line: i + 2,
    image: r.image ?? '',
    tags: (r.tags ?? '')
      .split(/[;|]/)
      .map((t) => t.trim())
      .filter(Boolean),
  }));
}

export function addEditCommands(program: Command, out: (s: string) => void): void {
  const classes = program.command('classes').description('list, add, rename or remove classes');
  classes
    .command('list')
    .description('the classes in display order, with their colours')
    .argument('<dir>', 'project folder')
    .action((dir: string) => {
      const store = openProject(dir, { readOnly: true });
      try {
        for (const c of store.classes()) out(`${c.name}\t${c.color}\n`);
      } finally {
        store.close();
      }
    });
  classes
    .command('add')
    .description('add classes (names are unique without regard to case)')
    .argument('<dir>', 'project folder')
    .argument('<names...>', 'class names')
    .option('--color <hex>', 'colour #rrggbb (one name only)')
    .action((dir: string, names: string[], o: { color?: string }) => {
      if (o.color && (!/^#[0-9a-f]{6}$/i.test(o.color) || names.length > 1)) throw new Error('--color takes one #rrggbb colour, with one class name');
      const store = openProject(dir);
      try {
        for (const n of names) {
          const c = store.addClass(n, o.color);
          out(`added class ${c.name} (${c.color})\n`);
        }
      } finally {
        store.close();
      }
    });
  classes
    .command('rename')
    .description('rename a class (its labels and tags stay)')
    .argument('<dir>', 'project folder')
    .argument('<name>', 'current name')
    .argument('<new-name>', 'new name')
    .action((dir: string, name: string, newName: string) => {
      const store = openProject(dir);
      try {
        const c = store.updateClass(classNamed(store, name).id, { name: newName });
        out(`renamed class ${name} to ${c.name}\n`);
      } finally {
        store.close();
      }
    });
  classes
    .command('rm')
    .description('remove a class: its tags go and its labelled pixels become unlabelled (--force when it has any)')
    .argument('<dir>', 'project folder')
    .argument('<name>', 'class name')
    .option('--force', 'remove even when images are tagged with it or have pixels labelled as it')
    .action((dir: string, name: string, o: { force?: boolean }) => {
      const store = openProject(dir);
      try {
        const c = classNamed(store, name);
        const stats = store.summary().classes.find((k) => k.id === c.id)!;
        if (!o.force && (stats.taggedImages > 0 || stats.labelledPixels > 0)) {
          throw new Error(
            `class ${c.name} tags ${stats.taggedImages} image(s) and labels ${stats.labelledPixels} pixel(s); ` +
              `removing it deletes those tags and makes those pixels unlabelled: add --force to do so`,
          );
        }
        const r = store.removeClass(c.id);
        out(`removed class ${c.name} (${r.removedTags} tags, ${r.removedLabelPixels} labelled pixels)\n`);
      } finally {
        store.close();
      }
    });

  program
    .command('tag')
    .description('add or remove image tags: by image (name as imported, file on disk, or id:N) or from a CSV with columns image,tags (tags separated by ";")')
    .argument('<dir>', 'project folder')
    .argument('[images...]', 'images to change')
    .option('--add <classes...>', 'class names to tag the images with')
    .option('--remove <classes...>', 'class names to untag')
    .option('--csv <file>', 'CSV with columns image,tags: each listed image gets those tags')
    .option('--replace', 'with --csv: an image\'s tags become exactly the listed ones (default: added)')
    .option('--create-classes', 'create classes the CSV or --add names that do not exist yet')
    .action((dir: string, images: string[], o: { add?: string[]; remove?: string[]; csv?: string; replace?: boolean; createClasses?: boolean }) => {
      if (!o.csv && !images.length) throw new Error('name the images to tag, or give --csv FILE');
      if (!o.csv && !o.add && !o.remove) throw new Error('say what to do: --add CLASS… and/or --remove CLASS…');
      if (o.csv && (images.length || o.add || o.remove)) throw new Error('--csv sets tags from the file: give no images, --add or --remove with it');
      const store = openProject(dir);
      try {
        const cls = (n: string) => (o.createClasses ? store.ensureClass(n).cls : classNamed(store, n));
        // One write transaction: every row resolves (images, classes) or nothing changes.
        const { changed, plan } = store.db
          .transaction(() => {
            const plan: Array<{ id: number; add: number[]; remove: number[]; replace: boolean }> = [];
            if (o.csv) {
              for (const row of readTagsCsv(o.csv)) {
                let refs: ImageRef[];
                let ids: number[];
                try {
                  refs = findImages(store, row.image);
                  ids = row.tags.map((t) => cls(t).id);
                } catch (e) {
                  throw new Error(`${o.csv} line ${row.line}: ${(e as Error).message}`, { cause: e });
                }
                for (const r of refs) plan.push({ id: r.id, add: ids, remove: [], replace: Boolean(o.replace) });
              }
            } else {
              const add = (o.add ?? []).map((n) => cls(n).id);
              const remove = (o.remove ?? []).map((n) => classNamed(store, n).id);
              for (const a of images) for (const r of findImages(store, a)) plan.push({ id: r.id, add, remove, replace: false });
            }
            let changed = 0;
            for (const p of plan) {
              const before = new Set(store.imageSummary(p.id).tags);
              const after = p.replace ? new Set<number>() : new Set(before);
              for (const c of p.add) after.add(c);
              for (const c of p.remove) after.delete(c);
              if (after.size !== before.size || [...after].some((c) => !before.has(c))) {
                store.setTags(p.id, [...after]);
                changed++;
              }
            }
            return { changed, plan };
          })
          .immediate();
        out(`tags changed on ${changed} of ${new Set(plan.map((p) => p.id)).size} image(s)\n`);
      } finally {
        store.close();
      }
    });
}
