/**
 * The heatseg CLI run in-process for tests: `run(...args)` returns the exit code and stdout; the
 * hooks it registers capture stderr (`stderr()`) and reset process.exitCode around each test.
 * Call it at the top level of a test file or inside a describe block.
 */
import { afterEach, beforeEach, vi } from 'vitest';
import { main } from '../../src-main/cli/main';

export interface CliHarness {
  run: (...args: string[]) => Promise<{ code: number; out: string }>;
  stderr: () => string;
}

export function cliHarness(): CliHarness {
  let stderr = '';
  beforeEach(() => {
    stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    process.exitCode = undefined;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });
  return {
    run: async (...args) => {
      let out = '';
      const code = await main(['node', 'heatseg', ...args], (s) => (out += s));
      return { code, out };
    },
    stderr: () => stderr,
  };
}
