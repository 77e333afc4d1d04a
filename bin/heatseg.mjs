#!/usr/bin/env node
// `heatseg` command: runs the TypeScript CLI through tsx, resolved from this project's own node_modules.
import { register } from 'tsx/esm/api';

// `heatseg info P | head` closes stdout early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
register();
const { main } = await import('../src-main/cli/main.ts');
process.exitCode = await main(process.argv);
