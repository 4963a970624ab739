import { healthErrors } from './errors.ts';
import type { Vote } from './types.ts';

/** Votes needed to flip a verdict: a strict majority of the probers, or a fixed number. */
export function quorumSize(quorum: 'majority' | number, probers: number): number {
  const need = quorum === 'majority' ? Math.floor(probers / 2) + 1 : quorum;
  if (probers < 1 || need > probers)
    throw healthErrors.ERR_HEALTH_INVALID_OPTION(
      `health: quorum ${need} cannot be reached with ${probers} prober zone(s)`,
      { details: { quorum, probers } },
    );
  return need;
}

/**
 * The quorum verdict: flip only when at least `need` probers agree on the other state and
 * they outnumber those who disagree; otherwise (ties, unknowns) keep the previous verdict.
 * So a zone cut off from one prober is not declared dead.
 */
export function quorumVerdict(previous: boolean, votes: Iterable<Pick<Vote, 'state'>>, need: number): boolean {
  let up = 0;
  let down = 0;
  for (const v of votes) {
    if (v.state === 'up') up++;
    else if (v.state === 'down') down++;
  }
  if (previous && down >= need && down > up) return false;
  if (!previous && up >= need && up > down) return true;
  return previous;
}
