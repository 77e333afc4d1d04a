/**
 * Only the engine worker side loads TF.js and onnxruntime (issue 11 item 15): the lint rule of
 * eslint.config.js on fixtures, and the real module graph of every main-side entry point (static
 * and dynamic imports, type-only ones excluded since they are erased) never reaching either.
 * The one documented exception: src-main/cli's dynamic import() of engine and bench modules for
 * the in-process CLI commands (`bench …`, `predict MODEL.onnx`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

describe('eslint engine boundary', () => {
  const eslint = new ESLint({ cwd: ROOT });
  const lint = async (file: string, code: string) => {
    const [r] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return r!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
  };

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

  it('the repository itself passes the rule', async () => {
    const results = await eslint.lintFiles(['src-main/api', 'src-main/server', 'src-main/cli', 'src-main/electron', 'src-main/engine/client.ts']);
    const bad = results.flatMap((r) => r.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => `${r.filePath}: ${m.message}`));
    expect(bad).toEqual([]);
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
        if (dynamic && path.relative(ROOT, file).startsWith('src-main/cli/') && (rel.startsWith('src-main/engine/') || rel.startsWith('bench/'))) continue;
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
