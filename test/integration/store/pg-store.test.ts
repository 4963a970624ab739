import pg from 'pg';
import { PgStore } from '../../../src/store/index.ts';
import { pgUrl, reachable } from './services.ts';
import { storeContract } from './store.contract.ts';

storeContract('postgres', async () => {
  if (!(await reachable('postgres'))) return undefined;
  const pool = new pg.Pool({ connectionString: pgUrl(), max: 4 });
  const suffix = Math.floor(Math.random() * 1e9).toString(36);
  const schemas = new Set<string>();
  return {
    open: async (deps, where) => {
      const schema = `mzt_${suffix}_${where.ns}_${where.zone.replace(/-/g, '_')}`;
      schemas.add(schema);
      return PgStore.open({ ...deps, connection: pool, schema });
    },
    cleanup: async () => {
      for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await pool.end();
    },
  };
});
