import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeChain, type Handler, newContext } from './chain.ts';

const ctx = () => newContext(Buffer.alloc(0), 'udp', '127.0.0.1', 1);

test('dns/chain: stages run in order, can act after next returns, and may stop the chain', () => {
  const seen: string[] = [];
  const mk =
    (n: string, stop = false): Handler =>
    (c, next) => {
      seen.push(`>${n}`);
      if (!stop) next(c);
      seen.push(`<${n}`);
    };
  composeChain([mk('a'), mk('b', true), mk('c')])(ctx());
  assert.deepEqual(seen, ['>a', '>b', '<b', '<a']);
});

test('dns/chain: calling next twice throws ERR_DNS_NEXT_TWICE', () => {
  const twice: Handler = (c, next) => {
    next(c);
    next(c);
  };
  const fine: Handler = () => {};
  assert.throws(() => composeChain([twice, fine], ['twice', 'fine'])(ctx()), { code: 'ERR_DNS_NEXT_TWICE' });
  // the last stage calling next (into nothing) twice is caught too
  assert.throws(() => composeChain([twice])(ctx()), { code: 'ERR_DNS_NEXT_TWICE' });
  // one chain serves many queries: a fresh context starts over
  const chain = composeChain([(c, next) => next(c), fine]);
  chain(ctx());
  chain(ctx());
});
