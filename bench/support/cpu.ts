/** CPU seconds (user + system) used so far by a process and every descendant (workers, nginx's and Varnish's children). */
import { readdirSync, readFileSync } from 'node:fs';

export function treeCpuSeconds(root: number): number {
  const tick = 100; // USER_HZ on Linux
  const parent = new Map<number, number>();
  const used = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // fields after the command (which may hold spaces): state ppid … utime(14) stime(15)
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      used.set(Number(d), (Number(f[11]) + Number(f[12])) / tick);
    } catch {}
  }
  let sum = 0;
  for (const [pid, secs] of used) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p))
      if (p === root) {
        sum += secs;
        break;
      }
  }
  return sum;
}
