/**
 * An order's life as a state machine (Eleme): placed → accepted → picked-up → delivered, or
 * cancelled before pick-up. Each transition is a conditional update on the order's version;
 * this file only says which transitions exist.
 */

export const ORDER_STATES = ['placed', 'accepted', 'picked-up', 'delivered', 'cancelled'] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const ORDER_ACTIONS = ['accept', 'pickup', 'deliver', 'cancel'] as const;
export type OrderAction = (typeof ORDER_ACTIONS)[number];

/** action → the states it may start from, and the state it leads to. */
const TRANSITIONS: Record<OrderAction, { from: readonly OrderState[]; to: OrderState }> = {
  accept: { from: ['placed'], to: 'accepted' },
  pickup: { from: ['accepted'], to: 'picked-up' },
  deliver: { from: ['picked-up'], to: 'delivered' },
  // once the rider has the food it can only be delivered
  cancel: { from: ['placed', 'accepted'], to: 'cancelled' },
};

export function isOrderAction(a: string): a is OrderAction {
  return (ORDER_ACTIONS as readonly string[]).includes(a);
}

/** The state `action` leads to from `state`, or undefined when the transition is illegal. */
export function nextState(state: OrderState, action: OrderAction): OrderState | undefined {
  const t = TRANSITIONS[action];
  return t.from.includes(state) ? t.to : undefined;
}

/** The states `action` may start from (for the SQL guard and for error details). */
export function statesFrom(action: OrderAction): readonly OrderState[] {
  return TRANSITIONS[action].from;
}
