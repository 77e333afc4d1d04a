// Worker bootstrap when running from source (CLI, browser mode, tests): TypeScript through tsx.
// The Electron build bundles src-main/engine/worker.ts as out/main/engineWorker.js instead.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
