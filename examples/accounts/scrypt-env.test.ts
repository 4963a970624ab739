// MZ_ACCOUNTS_SCRYPT_N: a value that is not a power of two in range stops `multizone up --app
// accounts` with one line naming the variable, exit 1, before anything starts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('accounts: a bad MZ_ACCOUNTS_SCRYPT_N is a one-line error, exit 1', () => {
  for (const bad of ['5', '3000', 'lots', '2097152']) {
    const r = spawnSync(process.execPath, ['bin/multizone.js', 'up', '--app', 'accounts'], {
      env: { ...process.env, MZ_ACCOUNTS_SCRYPT_N: bad },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1, `${bad}: ${r.stderr}`);
    assert.equal(
      r.stderr.trim(),
      `multizone: accounts: MZ_ACCOUNTS_SCRYPT_N must be a power of two from 1024 to 1048576, not "${bad}" (ERR_ACCOUNTS_CONFIG)`,
    );
  }
});
