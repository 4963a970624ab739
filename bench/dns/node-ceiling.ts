// The Node ceiling: a bare dgram responder that copies the query id into a pre-encoded answer,
// sending the way our server does (no address lookup per reply).
// `node-ceiling.ts PORT`; prints "READY <port>".
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

const port = Number(process.argv[2] ?? 0);
// the same shape as our typical reply: question, two A records, OPT with an ECS echo
const answer = dnsPacket.encode({
  id: 0,
  type: 'response',
  flags: dnsPacket.AUTHORITATIVE_ANSWER,
  questions: [{ name: 'api.shop.test', type: 'A', class: 'IN' }],
  answers: [
    { name: 'api.shop.test', type: 'A', ttl: 60, data: '127.0.3.1' },
    { name: 'api.shop.test', type: 'A', ttl: 60, data: '127.0.1.1' },
  ],
  additionals: [
    {
      type: 'OPT',
      name: '.',
      udpPayloadSize: 1232,
      options: [{ code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 24, ip: '1.2.4.0' }],
    } as unknown as dnsPacket.Answer,
  ],
});
// sends as ours do: the reply's address is the query's, an IP literal, so no dns.lookup per send
const sock = dgram.createSocket({
  type: 'udp4',
  lookup: (address: string, _family: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, address, 4),
});
sock.on('message', (msg, rinfo) => {
  const out = Buffer.from(answer);
  out[0] = msg[0]!;
  out[1] = msg[1]!;
  sock.send(out, rinfo.port, rinfo.address);
});
sock.bind(port, '127.0.0.1', () => {
  try {
    sock.setRecvBufferSize(4 << 20);
  } catch {}
  console.log(`READY ${sock.address().port}`);
});
process.on('SIGTERM', () => sock.close(() => process.exit(0)));
