import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../../src/store/index.ts';
import { storeContract } from './store.contract.ts';

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-store-'));
  return {
    open: async (deps, where) => new SqliteStore({ ...deps, file: join(dir, where.ns, `${where.zone}.db`) }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
