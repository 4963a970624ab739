import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from './main.ts';

test('cli/cert: writes a self-signed cert and key for the given names and 127.0.0.1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-cert-'));
  try {
    const out: string[] = [];
    const code = await main(['cert', '--out', dir, '--host', 'api.shop.test', '--host', 'httpdns.shop.test'], {
      out: (s) => out.push(s),
      err: (s) => out.push(s),
    });
    assert.equal(code, 0);
    const cert = new X509Certificate(readFileSync(join(dir, 'cert.pem')));
    assert.equal(cert.checkHost('api.shop.test'), 'api.shop.test');
    assert.equal(cert.checkHost('httpdns.shop.test'), 'httpdns.shop.test');
    assert.equal(cert.checkHost('other.test'), undefined);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.issuer, cert.subject);
    assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
    assert.ok(readFileSync(join(dir, 'key.pem'), 'utf8').includes('PRIVATE KEY'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli/cert: without --out it writes into .multizone/certs (0700, key 0600, git-ignored), not the working directory', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'mz-cert-cwd-'));
  try {
    const bin = join(process.cwd(), 'bin', 'multizone.js');
    const r = spawnSync(process.execPath, [bin, 'cert'], { cwd, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(cwd), ['.multizone'], 'no key material in the working directory');
    const certs = join(cwd, '.multizone', 'certs');
    assert.equal(statSync(certs).mode & 0o777, 0o700);
    assert.equal(statSync(join(certs, 'key.pem')).mode & 0o777, 0o600);
    assert.ok(readFileSync(join(certs, 'cert.pem'), 'utf8').includes('CERTIFICATE'));
    assert.match(readFileSync(join(certs, '.gitignore'), 'utf8'), /^\*$/m);
    // it says where it wrote
    assert.ok(r.stdout.includes(join('.multizone', 'certs', 'key.pem')), r.stdout);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
