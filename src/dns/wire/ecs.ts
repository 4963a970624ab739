/** EDNS Client Subnet (RFC 7871 §6): parse a query's option, encode the echo in a reply. */

export const OPTION_ECS = 8;

/** A validated client-subnet option. */
export interface Ecs {
  family: 4 | 6;
  sourcePrefix: number;
  /** The address bytes as sent (ceil(sourcePrefix / 8) of them), for the echo; a view into the query. */
  addressBytes: Buffer;
  /** Text form, zero-filled to a full address: '1.2.4.0', '2001:db8::'. */
  address: string;
}

/** Parses the option's data; returns a reason string when it is malformed (→ FORMERR). */
export function parseEcs(data: Buffer): Ecs | string {
  if (data.length < 4) return 'ecs-short';
  const fam = data.readUInt16BE(0);
  const source = data[2]!;
  if (fam !== 1 && fam !== 2) return 'ecs-family';
  const family = fam === 1 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  if (source > max) return 'ecs-prefix';
  const want = Math.ceil(source / 8);
  const addressBytes = data.subarray(4);
  // §6: ADDRESS must be exactly ceil(SOURCE PREFIX-LENGTH / 8) bytes ...
  if (addressBytes.length !== want) return 'ecs-address-length';
  // ... and bits beyond the source prefix must be zero (else FORMERR)
  if (source % 8 !== 0 && want > 0) {
    const mask = 0xff >> (source % 8);
    if ((addressBytes[want - 1]! & mask) !== 0) return 'ecs-address-bits';
  }
  let address: string;
  if (family === 4) {
    // hot path: no arrays, no copies (the echo copies the bytes into the reply)
    const b = addressBytes;
    address = `${want > 0 ? b[0] : 0}.${want > 1 ? b[1] : 0}.${want > 2 ? b[2] : 0}.${want > 3 ? b[3] : 0}`;
  } else {
    const b = Buffer.alloc(16);
    addressBytes.copy(b);
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16));
    // full (uncompressed) groups are fine: the geo parser accepts them
    address = g.join(':');
  }
  return { family, sourcePrefix: source, addressBytes, address };
}

/** The option data of the echo: family, source prefix and address as asked, our scope. */
export function encodeEcsEcho(ecs: Ecs, scope: number): Buffer {
  const out = Buffer.alloc(4 + ecs.addressBytes.length);
  out.writeUInt16BE(ecs.family === 4 ? 1 : 2, 0);
  out[2] = ecs.sourcePrefix;
  out[3] = Math.max(0, Math.min(scope, ecs.family === 4 ? 32 : 128));
  ecs.addressBytes.copy(out, 4);
  return out;
}
