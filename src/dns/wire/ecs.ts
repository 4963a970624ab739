/** EDNS Client Subnet (RFC 7871 §6): parse a query's option, encode the echo in a reply. */

export const OPTION_ECS = 8;

/** A validated client-subnet option; the address bytes stay in the query packet. */
export interface Ecs {
  family: 4 | 6;
  sourcePrefix: number;
  /** The packet and where the address bytes (ceil(sourcePrefix / 8) of them) are in it. */
  buf: Buffer;
  addrStart: number;
  addrLength: number;
}

/** Parses option data at [start, end) of buf; returns a reason string when malformed (→ FORMERR). */
export function parseEcs(buf: Buffer, start = 0, end = buf.length): Ecs | string {
  if (end - start < 4) return 'ecs-short';
  const fam = buf.readUInt16BE(start);
  const source = buf[start + 2]!;
  if (fam !== 1 && fam !== 2) return 'ecs-family';
  const family = fam === 1 ? 4 : 6;
  if (source > (family === 4 ? 32 : 128)) return 'ecs-prefix';
  const want = Math.ceil(source / 8);
  const addrStart = start + 4;
  // §6: ADDRESS must be exactly ceil(SOURCE PREFIX-LENGTH / 8) bytes ...
  if (end - addrStart !== want) return 'ecs-address-length';
  // ... and bits beyond the source prefix must be zero (else FORMERR)
  if (source % 8 !== 0 && want > 0 && (buf[addrStart + want - 1]! & (0xff >> (source % 8))) !== 0)
    return 'ecs-address-bits';
  return { family, sourcePrefix: source, buf, addrStart, addrLength: want };
}

/** Text form of the subnet's address, zero-filled: '1.2.4.0', '2001:db8:0:0:0:0:0:0'. */
export function ecsAddress(e: Ecs): string {
  return addressText(e.buf, e.addrStart, e.addrLength, e.family);
}

/** Text form of the `n` address bytes at `s` of `b` (zero-filled), as ecsAddress gives for an Ecs. */
export function addressText(b: Buffer, s: number, n: number, family: 4 | 6): string {
  if (family === 4)
    return `${n > 0 ? b[s] : 0}.${n > 1 ? b[s + 1] : 0}.${n > 2 ? b[s + 2] : 0}.${n > 3 ? b[s + 3] : 0}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2)
    g.push((((i < n ? b[s + i]! : 0) << 8) | (i + 1 < n ? b[s + i + 1]! : 0)).toString(16));
  // full (uncompressed) groups are fine: the geo parser accepts them
  return g.join(':');
}

/** The option data of the echo: family, source prefix and address as asked, our scope. */
export function encodeEcsEcho(ecs: Ecs, scope: number): Buffer {
  const out = Buffer.alloc(4 + ecs.addrLength);
  out.writeUInt16BE(ecs.family === 4 ? 1 : 2, 0);
  out[2] = ecs.sourcePrefix;
  out[3] = Math.max(0, Math.min(scope, ecs.family === 4 ? 32 : 128));
  ecs.buf.copy(out, 4, ecs.addrStart, ecs.addrStart + ecs.addrLength);
  return out;
}
