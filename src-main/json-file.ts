/**
 * Reading JSON files the user points at (labels.json, classes.json, model metadata) with errors
 * that name the file and the problem but never echo its content: V8's JSON.parse messages quote
 * the text around the error ("Unexpected token 'r', "root:x:0:0:"... is not valid JSON"), and a
 * path pointed at the wrong file (/etc/shadow, /proc/self/environ) must not leak through them.
 */
import fs from 'node:fs';
import type { z } from 'zod';

/** Larger files are refused before reading: no labels or model file comes near it. */
export const MAX_JSON_BYTES = 256 * 1024 * 1024;

/** A problem with a file the user gave: names the file and the problem, never its content. */
export class FileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'FileError';
  }
}

/** "line L, column C" of a character offset in `text`. */
function lineColumn(text: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < Math.min(pos, text.length); i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col}`;
}

/** Why `text` is not JSON, in words that quote none of it. */
export function jsonSyntaxProblem(text: string, err: unknown): string {
  const msg = (err as Error).message ?? '';
  const first = text.trimStart()[0];
  if (first === undefined) return 'not valid JSON (the file is empty)';
  if (first !== '{' && first !== '[' && first !== '"' && !/[-\d tfn]/.test(first)) return 'not a JSON file (it does not start with { or [)';
  if (/Unexpected end of JSON input/i.test(msg)) return 'not valid JSON (it ends too early: truncated?)';
  const pos = /at position (\d+)/.exec(msg);
  return pos ? `not valid JSON (syntax error at ${lineColumn(text, Number(pos[1]))})` : 'not valid JSON (syntax error)';
}

/** Parses a JSON file; every failure is a FileError that names the file and quotes nothing from it. */
export function readJsonFile(file: string): unknown {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileError(file, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'error'})`);
  }
  if (st.isDirectory()) throw new FileError(file, 'is a folder, expected a JSON file');
  if (!st.isFile()) throw new FileError(file, 'is not a regular file (device, pipe or socket), expected a JSON file');
  if (st.size > MAX_JSON_BYTES) throw new FileError(file, `is ${Math.round(st.size / 2 ** 20)} MB, too large for a JSON file heatseg reads`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new FileError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileError(file, jsonSyntaxProblem(text, e));
  }
}

/**
 * zod issues in words that name where (schema field names and array indices) and what was
 * expected, never the file's own keys or values: keys of records and unknown keys are data.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], max = 5): string {
  const parts = issues.slice(0, max).map((i) => {
    const where = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : 'top level';
    const what = i.code === 'unrecognized_keys' ? `${i.keys.length} unexpected field(s)` : i.code === 'invalid_key' ? 'a key of the wrong form' : i.message;
    return `${where}: ${what}`;
  });
  return parts.join('; ') + (issues.length > max ? `; and ${issues.length - max} more problem(s)` : '');
}
