/** What the notes example's end-to-end tests share: their three-zone topology, a poll, starting an app. */
import type { ChildProcess } from 'node:child_process';
import { request } from 'undici';

/** Three zones (sh-a core), each with its external app on `ports[z]`; `extra` is appended (more sections). */
export function notesTopologyYaml(ports: Record<string, number>, keyFile: string, shards: number, extra = ''): string {
  const zone = (z: string, region: string, core: boolean, backups: string) => `  ${z}:
    region: ${region}
    core: ${core}
    backups: ${backups}
    listen: { router: 127.0.0.1:0 }
    app: { upstream: 'http://127.0.0.1:${ports[z]}', health: /healthz, keyFile: '${keyFile}' }`;
  return `name: notes
apex: notes.test
regions: { east: {}, north: {} }
zones:
${zone('sh-a', 'east', true, '[sh-b, bj-a]')}
${zone('sh-b', 'east', false, '[sh-a, bj-a]')}
${zone('bj-a', 'north', false, '[sh-a, sh-b]')}
services:
  api.notes.test: { role: router, policy: nearest }
policies:
  nearest: { default: [[sh-a, sh-b], bj-a] }
shards:
  count: ${shards}
  key: [{ path: 1, prefix: /notes }]
resources:
  notes: { class: sharded, paths: [/notes] }
control: { listen: 127.0.0.1:0 }
health: { intervalMs: 300, timeoutMs: 250, fall: 3, rise: 2 }
failover:
  after: 300
  leaseMs: 1200
  renewMs: 300
  skewMs: 100
  check: { intervalMs: 100, timeoutMs: 250 }
${extra}`;
}

/** Polls `f` every 50 ms until it returns a value (errors count as "not yet"), up to `ms`. */
export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50)); // lint-allow: polling a real cluster
  }
}

/** Starts one zone's notes app with `env` on top of the test's own and resolves once its /healthz answers 200. */
export async function startNotesApp(
  spawnApp: (env: NodeJS.ProcessEnv) => ChildProcess,
  env: Record<string, string>,
  port: number,
): Promise<ChildProcess> {
  const child = spawnApp({ ...process.env, ...env, NOTES_PORT: String(port) });
  child.stdout?.resume();
  child.stderr?.resume();
  await waitFor(`${env.NOTES_ZONE}'s app`, async () => {
    const r = await request(`http://127.0.0.1:${port}/healthz`);
    await r.body.dump();
    return r.statusCode === 200 ? true : undefined;
  });
  return child;
}
