/** Shared helpers for the DNS integration tests: a topology with every record kind, raw clients. */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { parseTopology, type Topology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

/** Services beyond api.shop.test: a CNAME inside the zone, one outside, TXT, a deep name, many addresses. */
export const EXTRA_SERVICES = `  www.shop.test: { role: edge, ttl: 120, cname: api.shop.test }
  ext.shop.test: { role: edge, ttl: 90, cname: cdn.example.net }
  txt.shop.test: { role: edge, ttl: 30, txt: ["v=spf1 -all", "hello world"] }
  deep.x.shop.test: { role: edge, ttl: 60 }
  big.shop.test: { role: edge, ttl: 60, policy: wide }
  long.shop.test: { role: edge, ttl: 60, txt: ["${'a'.repeat(250)}", "${'b'.repeat(250)}", "${'c'.repeat(250)}"] }
`;

/**
 * The test topology (four zones, each on its own loopback address so answers show the
 * zone) with the extra services and a `dns:` section from `dns`.
 */
export function dnsTopologyYaml(dns = ''): string {
  const base = testTopologyYaml({ roles: ['dns', 'edge'], loopbackPerZone: true, extra: dns });
  return base
    .replace('services:\n', `services:\n${EXTRA_SERVICES}`)
    .replace('policies:\n', 'policies:\n  wide:\n    default: [[sh-a, sh-b, bj-a, gz-a]]\n    answers: 4\n')
    .replace('    isps: [unicom]\n', '    isps: [unicom]\n    addresses6: ["2001:db8:3::1"]\n')
    .replace('    isps: [mobile]\n', '    isps: [mobile]\n    addresses6: ["2001:db8:2::1"]\n');
}

export function dnsTopology(dns = ''): Topology {
  return parseTopology(dnsTopologyYaml(dns), 'dns-test-topology.yaml');
}

/** A standalone server listens on 127.0.0.1:0 (zones' own listeners are for the cluster). */
export const HOST = '127.0.0.1';

/** Builds a query with dns-packet. */
export function query(
  name: string,
  type: string,
  opts: {
    id?: number;
    edns?: boolean;
    ecs?: { ip: string; prefix: number };
    /** An EDNS COOKIE option (code 10) with this value, as dig sends one on every run. */
    cookie?: Buffer;
    udp?: number;
    version?: number;
  } = {},
): Buffer {
  const additionals: dnsPacket.Answer[] = [];
  if (opts.edns || opts.ecs || opts.cookie || opts.version !== undefined) {
    additionals.push({
      type: 'OPT',
      name: '.',
      udpPayloadSize: opts.udp ?? 1232,
      ednsVersion: opts.version ?? 0,
      options: [
        ...(opts.ecs
          ? [
              {
                code: 8,
                family: opts.ecs.ip.includes(':') ? 2 : 1,
                sourcePrefixLength: opts.ecs.prefix,
                scopePrefixLength: 0,
                ip: opts.ecs.ip,
              },
            ]
          : []),
        ...(opts.cookie ? [{ code: 10, data: opts.cookie }] : []),
      ],
    } as unknown as dnsPacket.Answer);
  }
  return dnsPacket.encode({
    id: opts.id ?? 4242,
    type: 'query',
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
    additionals,
  });
}

/** Sends one UDP packet and waits for one reply (or null after ms). */
export function udpExchange(port: number, packet: Buffer, ms = 2000, host = HOST): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, ms);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(packet, port, host);
  });
}

/** A TCP connection that collects length-prefixed replies. */
export class TcpClient {
  readonly sock: net.Socket;
  private buf = Buffer.alloc(0);
  private waiters: ((m: Buffer) => void)[] = [];
  private queued: Buffer[] = [];
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.sock = net.connect(port, HOST);
    this.sock.on('error', () => {});
    this.closed = new Promise((r) => this.sock.on('close', () => r()));
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        const m = this.buf.subarray(2, 2 + this.buf.readUInt16BE(0));
        this.buf = this.buf.subarray(2 + m.length);
        const w = this.waiters.shift();
        if (w) w(m);
        else this.queued.push(m);
      }
    });
  }

  ready(): Promise<void> {
    return new Promise((r) => (this.sock.connecting ? this.sock.once('connect', () => r()) : r()));
  }

  send(msg: Buffer): void {
    const f = Buffer.alloc(2 + msg.length);
    f.writeUInt16BE(msg.length, 0);
    msg.copy(f, 2);
    this.sock.write(f);
  }

  next(): Promise<Buffer> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    return new Promise((r) => this.waiters.push(r));
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A decoded reply with the fields tests read (dns-packet's types leave most of them optional). */
export interface Decoded {
  id: number;
  type: string;
  rcode: string;
  flag_qr: boolean;
  flag_aa: boolean;
  flag_tc: boolean;
  flag_rd: boolean;
  flag_ra: boolean;
  flag_cd: boolean;
  questions: dnsPacket.Question[];
  answers: dnsPacket.Answer[];
  authorities: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
}

export const decode = (b: Buffer): Decoded => dnsPacket.decode(b) as unknown as Decoded;

/** Wire form of a name: 'mz-key.' → 06 'mz-key' 00. */
export const wireName = (name: string) =>
  Buffer.concat([
    ...name
      .split('.')
      .filter((l) => l.length > 0)
      .map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])),
    Buffer.from([0]),
  ]);

/** A raw OPT record: root owner, type 41, our payload size, flags, and the given rdata. */
export function optRr(rdata: Buffer, opts: { udp?: number; do?: boolean; owner?: Buffer } = {}): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(41, 0);
  head.writeUInt16BE(opts.udp ?? 1232, 2);
  head[6] = opts.do ? 0x80 : 0;
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([opts.owner ?? Buffer.from([0]), head, rdata]);
}

/** A header with the given flag bytes and counts. */
export function header(
  id: number,
  flags1: number,
  flags2: number,
  qd: number,
  an: number,
  ns: number,
  ar: number,
): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h[2] = flags1;
  h[3] = flags2;
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

/** The question api.shop.test A IN. */
export const QUESTION = Buffer.concat([wireName('api.shop.test'), Buffer.from([0, 1, 0, 1])]);

/** A hand-built TSIG record (RFC 8945 §4.2), signed with `secret` over `msg` (as dig would). */
export function tsigRr(msg: Buffer, keyName: string, secret: Buffer, time: number, fudge = 300): Buffer {
  const key = wireName(keyName);
  const alg = wireName('hmac-sha256');
  const timeBytes = Buffer.alloc(8);
  timeBytes.writeUInt16BE(Math.floor(time / 2 ** 32), 0);
  timeBytes.writeUInt32BE(time >>> 0, 2);
  timeBytes.writeUInt16BE(fudge, 6);
  // the MAC covers the message, then the TSIG variables (§4.3.3)
  const vars = Buffer.concat([key, Buffer.from([0, 255, 0, 0, 0, 0]), alg, timeBytes, Buffer.from([0, 0, 0, 0])]);
  const mac = createHmac('sha256', secret).update(msg).update(vars).digest();
  const rdata = Buffer.concat([
    alg,
    timeBytes,
    Buffer.from([0, mac.length]),
    mac,
    msg.subarray(0, 2), // original id
    Buffer.from([0, 0, 0, 0]), // error, other len
  ]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(250, 0);
  fixed.writeUInt16BE(255, 2); // class ANY
  fixed.writeUInt32BE(0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([key, fixed, rdata]);
}

/** `msg` with `rr` appended to its additional section. */
export function withAdditional(msg: Buffer, rr: Buffer): Buffer {
  const out = Buffer.concat([msg, rr]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

/**
 * Whether `dig` (bind9-dnsutils) is installed; under CI=true its absence is an error, not a
 * skip (.ci/apt-packages installs it).
 */
export async function digPresent(): Promise<boolean> {
  try {
    await promisify(execFile)('dig', ['-v']);
    return true;
  } catch {
    if (process.env.CI === 'true') throw new Error('dig is missing (bind9-dnsutils in .ci/apt-packages)');
    return false;
  }
}
