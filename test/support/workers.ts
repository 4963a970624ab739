// Helpers for the worker tests (edge.workers, dns.workers, router.workers): one request on a
// new connection, so the kernel picks the process that accepts it, and the worker processes
// this test process has forked.
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request on a new connection (`connection: close`). */
export function requestOnce(
  base: { host: string; port: number },
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { ...base, method, path, agent: false, headers: { connection: 'close', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Pids of this process's children whose command line matches `pattern` (e.g. 'dns/worker-main'). */
export function childPids(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-f', pattern], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep found none (exit 1)
  }
}
