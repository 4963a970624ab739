import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isOrderAction, nextState, ORDER_ACTIONS, ORDER_STATES } from './order-state.ts';

it('delivery orders: every (state, action) pair, legal or not', () => {
  const legal: Record<string, string> = {
    'placed/accept': 'accepted',
    'placed/cancel': 'cancelled',
    'accepted/pickup': 'picked-up',
    'accepted/cancel': 'cancelled',
    'picked-up/deliver': 'delivered',
  };
  for (const s of ORDER_STATES)
    for (const a of ORDER_ACTIONS) assert.equal(nextState(s, a), legal[`${s}/${a}`], `${s} --${a}-->`);
  assert.equal(isOrderAction('deliver'), true);
  assert.equal(isOrderAction('teleport'), false);
});
