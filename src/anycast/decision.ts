/**
 * `decide`: the announcer's one decision, pure. Inputs: the health plane's verdict of the
 * zone's role, whether the zone holds its lease, whether it is drained, whether it is shutting
 * down, and the time. Output: announce, prepend or withdraw, and why. The only state is when
 * the inputs last turned good, for `rise` damping.
 */

/** What the zone does with a prefix now. */
export type AnycastAction = 'announce' | 'prepend' | 'withdraw';

/** Why: `healthy` (announced), or what keeps it from being announced. */
export type AnycastReason = 'healthy' | 'rising' | 'unhealthy' | 'lease-lost' | 'draining' | 'shutdown';

/** What the decision reads, at one instant. */
export interface AnycastInputs {
  /** The health plane's quorum verdict of the zone's listener for the prefix's role. */
  healthy: boolean;
  /** The zone holds its lease in the control Kv (a zone cut off from it does not). */
  leaseHeld: boolean;
  /** Drained by an operator, or taken out by a planned failover. */
  draining: boolean;
  /** The process is stopping: withdraw before the listeners close. */
  shuttingDown: boolean;
}

/** The decision, with the time left of the rise when rising (ms). */
export interface AnycastDecision {
  action: AnycastAction;
  reason: AnycastReason;
  riseLeftMs?: number;
}

/** Settings the decision takes from `anycast:`. */
export interface DecisionOptions {
  /** The inputs must stay good this long (ms) before the zone announces again. */
  riseMs: number;
  /** What a zone that is down does: withdraw, or announce with extra prepends. */
  onDown: 'withdraw' | 'prepend';
}

/** The decision's memory: since when (monotonic ms) the inputs are good, or null. */
export interface DecisionState {
  goodSince: number | null;
}

/** A state that has never seen good inputs (a starting zone waits `riseMs` too). */
export function initialDecisionState(): DecisionState {
  return { goodSince: null };
}

/**
 * The next state and the decision for `inputs` at `now`. Shutdown always withdraws (never
 * prepends: a closing zone must not attract anyone); the other bad inputs take `onDown`, in
 * the order draining, lease lost, unhealthy (the first one named is the reason). Good inputs
 * announce once they have held `riseMs`: with riseMs 10 000, good from t=0, the zone still
 * withdraws at t=9 999 (rising, 1 ms left) and announces at t=10 000; one bad reading in
 * between starts the rise again.
 */
export function decide(
  state: DecisionState,
  inputs: AnycastInputs,
  now: number,
  o: DecisionOptions,
): { state: DecisionState; decision: AnycastDecision } {
  const down: AnycastAction = o.onDown === 'prepend' ? 'prepend' : 'withdraw';
  if (inputs.shuttingDown) return { state: { goodSince: null }, decision: { action: 'withdraw', reason: 'shutdown' } };
  const bad: AnycastReason | null = inputs.draining
    ? 'draining'
    : !inputs.leaseHeld
      ? 'lease-lost'
      : !inputs.healthy
        ? 'unhealthy'
        : null;
  if (bad) return { state: { goodSince: null }, decision: { action: down, reason: bad } };
  const goodSince = state.goodSince ?? now;
  const left = goodSince + o.riseMs - now;
  if (left > 0) return { state: { goodSince }, decision: { action: down, reason: 'rising', riseLeftMs: left } };
  return { state: { goodSince }, decision: { action: 'announce', reason: 'healthy' } };
}
