/** Real etcd members for the etcd Kv tests: spawned on free ports in a temp dir, stopped after. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.ts';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  kill(): void;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Comma-separated client URLs of every member. */
  url: string;
  stop(): Promise<void>;
}

/** True when Debian's etcd-server is installed (its binary is `etcd`). */
export function etcdInstalled(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts an etcd cluster of `size` members on 127.0.0.1 (pre-vote on, short election timeout as
 * the lab runs them) and waits until it has a leader. null (with a reason) when etcd is not
 * installed and CI is not set; throws under CI=true.
 */
export async function startEtcd(size = 1): Promise<EtcdCluster | null> {
  if (!etcdInstalled()) {
    if (process.env.CI === 'true') throw new Error('etcd is not installed and CI=true (apt-get install etcd-server)');
    console.log('# skipping the etcd Kv tests: etcd is not installed (apt-get install etcd-server)');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mz-etcd-'));
  const ports = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i}`);
  const initial = ports.map((p, i) => `${names[i]}=http://127.0.0.1:${p.peer}`).join(',');
  const procs: ChildProcess[] = [];
  const members = ports.map((p, i): EtcdMember => {
    const clientUrl = `http://127.0.0.1:${p.client}`;
    const child = spawn(
      'etcd',
      [
        `--name=${names[i]}`,
        `--data-dir=${join(dir, names[i]!)}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${p.peer}`,
        `--initial-cluster=${initial}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=mz-test-${process.pid}`,
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--pre-vote',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
    procs.push(child);
    return { name: names[i]!, clientUrl, kill: () => child.kill('SIGKILL') };
  });
  const stop = async () => {
    for (const c of procs) c.kill('SIGKILL');
    await Promise.all(
      procs.map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined,
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await Promise.all(
      members.map((m) =>
        fetch(`${m.clientUrl}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: 'X3Jk', value: '' }) })
          .then((r) => r.ok)
          .catch(() => false),
      ),
    );
    if (ok.every(Boolean)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd (${size} members) did not come up within 20 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { members, url: members.map((m) => m.clientUrl).join(','), stop };
}
