/**
 * Only the engine worker side loads TF.js and onnxruntime (issue 11 item 15): the lint rule of
 * eslint.config.js on fixtures, and the real module graph of every main-side entry point (static
 * and dynamic imports, type-only ones excluded since they are erased) never reaching either.
 * The one documented exception: src-main/cli's dynamic import() of engine and src-main/studies
 * modules for the in-process CLI commands (`bench …`, `predict MODEL.onnx`). Also the rooms of the
 * benchmarks: src-main never imports bench/ (developer scripts), and bench/ never imports test/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

/** One rule's messages (the only rule run): on `code` linted as if it were `file`, and on the repository's own `paths` (with the file named). */
function ruleOf(ruleId: string) {
  const eslint = new ESLint({ cwd: ROOT, ruleFilter: (r) => r.ruleId === ruleId });
  const lint = async (file: string, code: string) => {
    const [r] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return r!.messages.filter((m) => m.ruleId === ruleId).map((m) => m.message);
  };
  const lintRepo = async (paths: string[]) => {
    const results = await eslint.lintFiles(paths);
    return results.flatMap((r) => r.messages.filter((m) => m.ruleId === ruleId).map((m) => `${r.filePath}: ${m.message}`));
  };
  return { lint, lintRepo };
}

describe('eslint engine boundary', () => {
  const { lint, lintRepo } = ruleOf('@typescript-eslint/no-restricted-imports');

  it('refuses TF.js, onnxruntime and engine modules (other than the worker handle) outside src-main/engine', async () => {
    for (const dir of ['api', 'server', 'cli', 'electron', 'store']) {
      const file = `src-main/${dir}/__boundary_fixture.ts`;
      expect(await lint(file, `import * as tf from '@tensorflow/tfjs';\nexport const x = tf;\n`)).toHaveLength(1);
      expect(await lint(file, `import * as ort from 'onnxruntime-node';\nexport const x = ort;\n`)).toHaveLength(1);
      // export-run → onnx-export → models → tfjs: the chain the app's export used to load on this thread
      expect((await lint(file, `import { exportRun } from '../engine/export-run.js';\nexport const x = exportRun;\n`))[0]).toMatch(/engine\/client\.js/);
      expect(await lint(file, `import { predict } from '../engine/infer.js';\nexport const x = predict;\n`)).toHaveLength(1);
      // allowed: the worker handle, and types of engine modules
      expect(await lint(file, `import { startJob } from '../engine/client.js';\nexport const x = startJob;\n`)).toEqual([]);
      expect(await lint(file, `import type { JobEvent } from '../engine/jobs.js';\nexport type X = JobEvent;\n`)).toEqual([]);
    }
  });

  it('lets the engine import TF.js, and keeps engine/client.ts to type imports of its siblings', async () => {
    expect(await lint('src-main/engine/__boundary_fixture.ts', `import * as tf from '@tensorflow/tfjs';\nexport const x = tf;\n`)).toEqual([]);
    expect(await lint('src-main/engine/client.ts', `import { runJob } from './jobs.js';\nexport const x = runJob;\n`)).toHaveLength(1);
    expect(await lint('src-main/engine/client.ts', `import type { Job } from './jobs.js';\nexport type X = Job;\n`)).toEqual([]);
  });

  it('keeps src-main/studies off the main side except as types, and lets them run the engine in-process', async () => {
    for (const file of ['src-main/cli/__boundary_fixture.ts', 'src-main/api/__boundary_fixture.ts']) {
      expect((await lint(file, `import { benchQuality } from '../studies/quality.js';\nexport const x = benchQuality;\n`))[0]).toMatch(/studies/);
      expect(await lint(file, `import type { QualityOptions } from '../studies/quality.js';\nexport type X = QualityOptions;\n`)).toEqual([]);
    }
    expect(await lint('src-main/studies/__boundary_fixture.ts', `import * as tf from '@tensorflow/tfjs';\nimport { train } from '../engine/trainer.js';\nexport const x = [tf, train];\n`)).toEqual([]);
  });

  it('the repository itself passes the rule', async () => {
    expect(await lintRepo(['src-main/api', 'src-main/server', 'src-main/cli', 'src-main/electron', 'src-main/engine/client.ts'])).toEqual([]);
  });
});

describe('eslint rooms of bench/ and src-main/studies', () => {
  const { lint, lintRepo } = ruleOf('no-restricted-imports');

  it('refuses src-main → bench/ imports (the studies included), static or type-only', async () => {
    expect((await lint('src-main/cli/__boundary_fixture.ts', `import { main } from '../../bench/demo.js';\nexport const x = main;\n`))[0]).toMatch(/bench\//);
    expect(await lint('src-main/studies/__boundary_fixture.ts', `import { machineLine } from '../../bench/browser.js';\nexport const x = machineLine;\n`)).toHaveLength(1);
    expect(await lint('src-main/engine/__boundary_fixture.ts', `import type { OpProfile } from '../../bench/x.js';\nexport type X = OpProfile;\n`)).toHaveLength(1);
    // the studies are src-main's own
    expect(await lint('src-main/studies/__boundary_fixture.ts', `import { benchQuality } from './quality.js';\nexport const x = benchQuality;\n`)).toEqual([]);
  });

  it('refuses bench/ → test/ imports, and lets bench/ scripts use src-main/studies', async () => {
    expect((await lint('bench/__boundary_fixture.ts', `import { tmpDir } from '../test/helpers/tmp.js';\nexport const x = tmpDir;\n`))[0]).toMatch(/test\//);
    expect(await lint('bench/__boundary_fixture.ts', `import type { Dir } from '../test/helpers/tmp.js';\nexport type X = Dir;\n`)).toHaveLength(1);
    expect(await lint('bench/__boundary_fixture.ts', `import { labelsToReach } from '../src-main/studies/learning-curves.js';\nexport const x = labelsToReach;\n`)).toEqual([]);
    expect(await lint('bench/__boundary_fixture.ts', `import { stubLargeGrid } from './stub-grid.js';\nexport const x = stubLargeGrid;\n`)).toEqual([]);
  });

  it('the repository itself passes them', async () => {
    expect(await lintRepo(['src-main', 'bench'])).toEqual([]);
  });
});

/** Value imports of a module (static, re-exports, and dynamic import() with a literal), type-only ones left out. */
function valueImports(file: string): Array<{ spec: string; dynamic: boolean }> {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Array<{ spec: string; dynamic: boolean }> = [];
  const visit = (n: ts.Node) => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push({ spec: n.moduleSpecifier.text, dynamic: false });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier) && !n.isTypeOnly) {
      out.push({ spec: n.moduleSpecifier.text, dynamic: false });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      out.push({ spec: n.arguments[0].text, dynamic: true });
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

function resolveLocal(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec);
  for (const f of [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(f) && fs.statSync(f).isFile()) return f;
  return null;
}

/** Every package a module graph loads, with one path that reaches it. */
function packagesReached(entry: string): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const seen = new Set<string>();
  const stack: Array<{ file: string; trail: string[] }> = [{ file: entry, trail: [path.relative(ROOT, entry)] }];
  while (stack.length) {
    const { file, trail } = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { spec, dynamic } of valueImports(file)) {
      if (spec.startsWith('.')) {
        const target = resolveLocal(file, spec);
        if (!target || !/\.(ts|mts)$/.test(target)) continue;
        const rel = path.relative(ROOT, target);
        // the documented exception: the CLI's in-process engine commands
        if (dynamic && path.relative(ROOT, file).startsWith('src-main/cli/') && (rel.startsWith('src-main/engine/') || rel.startsWith('src-main/studies/'))) continue;
        stack.push({ file: target, trail: [...trail, `${dynamic ? 'import() ' : ''}${rel}`] });
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!reached.has(pkg)) reached.set(pkg, [...trail, spec]);
      }
    }
  }
  return reached;
}

describe('module graph of the main side', () => {
  for (const entry of ['src-main/api/handlers.ts', 'src-main/server/http.ts', 'src-main/electron/main.ts', 'src-main/cli/main.ts']) {
    it(`${entry} never loads TF.js or onnxruntime (static or dynamic imports)`, () => {
      const reached = packagesReached(path.join(ROOT, entry));
      const bad = [...reached].filter(([pkg]) => pkg.startsWith('@tensorflow/') || pkg.startsWith('onnxruntime'));
      expect(bad.map(([pkg, trail]) => `${pkg}: ${trail.join(' → ')}`)).toEqual([]);
      // the walk does see the graph: the store's driver is in it
      expect(reached.has('better-sqlite3')).toBe(true);
    });
  }

  it('the walk finds the chain it guards against', () => {
    const reached = packagesReached(path.join(ROOT, 'src-main/engine/export-run.ts'));
    expect(reached.get('@tensorflow/tfjs')?.join(' → ')).toMatch(/onnx-export/);
  });
});
