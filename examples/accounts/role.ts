/**
 * `multizone up` wiring for the accounts app: an AppRole that replaces the built-in echo app
 * (`multizone up --app accounts`, or `startCluster({ app: accountsAppRole })`). It uses only
 * multizone's public API, as your own app would.
 */
import {
  type AppContext,
  type AppRole,
  type AppServer,
  GLOBAL,
  openSessionStore,
  PlatformError,
} from '../../src/index.ts';
import { startAccountsApp } from './app.ts';

/** The accounts app role; `scryptN` lowers the password hashing cost (tests). */
export function createAccountsAppRole(opts: { scryptN?: number } = {}): AppRole {
  return { name: 'accounts', start: (ctx) => startRole(ctx, opts.scryptN) };
}

/**
 * The accounts app as `multizone up --app accounts` runs it (`multizone drill` drives it).
 * `MZ_ACCOUNTS_SCRYPT_N` (a power of two, 1024 … 1048576) sets the password hashing cost;
 * default 16384.
 */
export const accountsAppRole: AppRole = createAccountsAppRole(scryptFromEnv());

function scryptFromEnv(): { scryptN?: number } {
  const raw = process.env.MZ_ACCOUNTS_SCRYPT_N;
  if (raw === undefined || raw === '') return {};
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1024 || n > 1_048_576 || (n & (n - 1)) !== 0)
    throw new PlatformError(
      'ERR_ACCOUNTS_CONFIG',
      `accounts: MZ_ACCOUNTS_SCRYPT_N must be a power of two from 1024 to 1048576, not "${raw}"`,
    );
  return { scryptN: n };
}

async function startRole(ctx: AppContext, scryptN: number | undefined): Promise<AppServer> {
  const zone = ctx.zone.name;
  // sessions: in this process, or the zone's Redis (session.adapter: redis)
  const sessions = await openSessionStore(ctx.topology, zone, ctx.clock);
  try {
    const app = await startAccountsApp({
      sessions,
      zone,
      topology: ctx.topology,
      store: ctx.store,
      clock: ctx.clock,
      host: ctx.listen.host,
      port: ctx.listen.port,
      ...(scryptN ? { scryptN } : {}),
      onError: (e, route) => ctx.logger.warn({ err: e, zone, route }, 'accounts: internal error'),
      epochOf: (shard) => ctx.shardMap.owner(shard)?.epoch ?? 1,
      globalOwner: () => ctx.shardMap.owner(GLOBAL),
      peer: (z) => ctx.appUrl(z),
      signer: ctx.signer,
    });
    return {
      ...app,
      close: async () => {
        await app.close();
        await sessions.close();
      },
    };
  } catch (e) {
    await sessions.close();
    throw e;
  }
}
