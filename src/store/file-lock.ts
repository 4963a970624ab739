import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { storeErrors } from './errors.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `<file>.lock` for this process, so two clusters started from one folder cannot
 * share a zone's SQLite file (SQLite would let both write: interleaved change logs and
 * SQLITE_BUSY under load). A lock left by a process that is gone is taken over. Returns
 * the release function; throws ERR_STORE_IN_USE naming the holder.
 */
export function acquireFileLock(file: string): () => void {
  const lock = `${file}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(lock, 'utf8').trim());
    } catch {
      /* vanished in between: try again */
    }
    if (Number.isInteger(holder) && holder > 0 && alive(holder))
      throw storeErrors.ERR_STORE_IN_USE(
        `${file} is in use by ${holder === process.pid ? 'another store in this process' : `process ${holder}`}; each running cluster needs its own store.dataDir (or stop the other one)`,
        { details: { file, pid: holder } },
      );
    try {
      unlinkSync(lock); // stale: its process is gone
    } catch {
      /* someone else took it over first; the retry will tell */
    }
  }
}
