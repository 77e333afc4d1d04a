/**
 * The `heatseg` command line. Every command prints a clear error naming the file and the problem and
 * exits non-zero on bad arguments or bad input; long work shows a progress bar on stderr.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ApiError } from '../../src-shared/api.js';
import { exportLabels } from '../dataset/export.js';
import { importFolder } from '../dataset/import.js';
import { ensureDemoProject } from '../demo/demo.js';
import { ProjectStore } from '../store/project.js';
import { appVersion } from '../version.js';
import { addActiveCommand, addBenchCommands, addEngineCommands, addSpeedCommand } from './engine-commands.js';
import { addEditCommands } from './edit-commands.js';
import { openProject } from './open.js';
import { progressBar } from './progress.js';

class CliError extends Error {}

function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535 (0 = any free port)');
  return n;
}

export function buildProgram(out: (s: string) => void): Command {
  const program = new Command('heatseg')
    .description('Train segmenters from image tags and a few scribbles, via explanation heatmaps')
    .version(appVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ writeOut: out, writeErr: (s) => process.stderr.write(s) });

  program
    .command('init')
    .description('create an empty project folder')
    .argument('<dir>', 'project folder to create')
    .action((dir: string) => {
      const store = ProjectStore.create(dir);
      out(`created project ${store.dir}\n`);
      store.close();
    });

  program
    .command('import')
    .description('import a folder of images, a mask folder (classes.json, images/, masks/, labels.json), or one image file')
    .argument('<dir>', 'project folder')
    .argument('<source>', 'folder of images, mask folder, or an image file')
    .option('--masks [folder]', 'import masks as pixel labels (default: masks/ inside SOURCE when present)')
    .option('--no-masks', 'ignore masks')
    .option('--labels [file]', 'import image-level tags (default: labels.json inside SOURCE when present)')
    .option('--no-labels', 'ignore labels.json')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, source: string, opts: { masks?: boolean | string; labels?: boolean | string; json?: boolean }) => {
      const store = openProject(dir);
      const bar = progressBar('import');
      try {
        const report = await importFolder(store, source, {
          masks: opts.masks ?? true,
          labels: opts.labels ?? true,
          onProgress: (done, total) => bar.update(done, total),
        });
        bar.stop();
        if (opts.json) out(`${JSON.stringify(report)}\n`);
        else {
          for (const n of report.notices ?? []) out(`note: ${n}\n`);
          out(`imported ${report.imported} images (${report.labelledImages} with pixel labels), ${report.duplicates} already present\n`);
          if (report.classesCreated.length) out(`new classes: ${report.classesCreated.join(', ')}\n`);
          for (const s of report.skipped) out(`skipped ${s.file}: ${s.reason}\n`);
        }
        if (report.skipped.length) process.exitCode = 3;
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('info')
    .description('counts of images, tags and labelled pixels per class')
    .argument('<dir>', 'project folder')
    .option('--json', 'print JSON')
    .action((dir: string, opts: { json?: boolean }) => {
      const store = openProject(dir, { readOnly: true });
      try {
        const s = store.summary();
        if (opts.json) {
          out(`${JSON.stringify(s)}\n`);
          return;
        }
        out(`project ${s.path} (schema v${s.schemaVersion})\n`);
        out(`images: ${s.images}, tagged: ${s.taggedImages}, with pixel labels: ${s.labelledImages}, classes: ${s.classes.length}\n\n`);
        const w = Math.max(5, ...s.classes.map((c) => c.name.length));
        out(`${'class'.padEnd(w)}  ${'tagged images'.padStart(13)}  ${'labelled pixels'.padStart(15)}\n`);
        for (const c of s.classes) {
          out(`${c.name.padEnd(w)}  ${String(c.taggedImages).padStart(13)}  ${String(c.labelledPixels).padStart(15)}\n`);
        }
      } finally {
        store.close();
      }
    });

  program
    .command('upgrade')
    .description('upgrade a project made by an older heatseg to this version\'s schema (read-only commands never do)')
    .argument('<dir>', 'project folder')
    .action((dir: string) => {
      const store = ProjectStore.open(dir);
      try {
        out(
          store.upgradedFrom !== null
            ? `upgraded project ${store.dir} from schema v${store.upgradedFrom} to v${ProjectStore.latestSchemaVersion()}\n`
            : `project ${store.dir} is up to date (schema v${ProjectStore.latestSchemaVersion()})\n`,
        );
      } finally {
        store.close();
      }
    });

  program
    .command('export-labels')
    .description('write labels as a mask folder (indexed PNG, 255 = unlabelled) or COCO with RLE masks')
    .argument('<dir>', 'project folder')
    .argument('<out>', 'output folder (new or empty)')
    .option('--format <format>', 'maskfolder or coco', 'maskfolder')
    .action((dir: string, outDir: string, opts: { format: string }) => {
      if (opts.format !== 'maskfolder' && opts.format !== 'coco') throw new CliError(`--format must be maskfolder or coco, not "${opts.format}"`);
      const store = openProject(dir, { readOnly: true });
      const bar = progressBar('export');
      try {
        const r = exportLabels(store, outDir, { format: opts.format, onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        out(`exported ${r.images} images (${r.files} files) as ${r.format} to ${r.out}\n`);
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('serve')
    .description('browser mode: serve the workbench on 127.0.0.1 with a per-launch token')
    .argument('[dir]', 'project folder to open')
    .option('--demo', 'open the built-in demo project (generated on first use)')
    .option('--port <port>', 'port (default: a free one)', portNumber)
    .option('--no-open', 'do not open a browser')
    .action(async (dir: string | undefined, opts: { demo?: boolean; port?: number; open: boolean }) => {
      const { startServer } = await import('../server/http.js');
      const store = opts.demo ? await ensureDemoProject() : dir ? openProject(dir) : null;
      const server = await startServer({ store, port: opts.port ?? 0 });
      out(`heatseg ${opts.demo ? 'demo ' : ''}project ${store?.dir ?? '(none: pick one in the page)'}\n`);
      out(`open in your browser: ${server.url}\n`);
      if (opts.open && process.stdout.isTTY && !process.env.CI) openBrowser(server.url);
      await new Promise<void>((resolve) => {
        const stop = () => {
          void server.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  addEditCommands(program, out);
  addEngineCommands(program, out);
  addBenchCommands(program, out);
  addSpeedCommand(program, out);
  addActiveCommand(program, out);
  return program;
}

function openBrowser(url: string): void {
  void import('node:child_process').then(({ spawn }) => {
    const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'cmd' : 'xdg-open';
    const args = process.platform === 'win32' ? ['/c', 'start', '', url] : [url];
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  });
}

function explain(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.message?.includes('NODE_MODULE_VERSION')) {
    return `${err.message}\nbetter-sqlite3 was built for another runtime (Electron?). Run \`npm rebuild better-sqlite3\` to use the CLI.`;
  }
  if (e instanceof ApiError || e instanceof CliError) return e.message;
  if (err.code && err.path) return `${err.path}: ${err.code === 'ENOENT' ? 'no such file or folder' : err.message}`;
  // Ordinary failures (bad files, bad models) carry their explanation in the message; the stack is for debugging.
  return process.env.HEATSEG_DEBUG ? (err.stack ?? String(e)) : (err.message ?? String(e));
}

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    process.stderr.write(`heatseg: ${explain(e)}\n`);
    return 1;
  }
}

