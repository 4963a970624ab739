import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A program's path: an absolute path that is executable, or the first hit on PATH and the sbin folders; undefined if none. */
export function findProgram(name: string): string | undefined {
  const dirs = name.includes('/')
    ? ['']
    : [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = d ? join(d, name) : name;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}
