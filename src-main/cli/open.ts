import { ProjectStore } from '../store/project.js';

/**
 * Opens a project for a command. `readOnly` commands never write to it (an older project is
 * refused with how to upgrade it); others upgrade an older project and say so on stderr.
 */
export function openProject(dir: string, opts: { readOnly?: boolean } = {}): ProjectStore {
  const store = ProjectStore.open(dir, opts);
  if (store.upgradedFrom !== null) {
    process.stderr.write(`note: upgraded project ${store.dir} from schema v${store.upgradedFrom} to v${ProjectStore.latestSchemaVersion()}\n`);
  }
  return store;
}
