import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
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
