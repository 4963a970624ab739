import type { Stage } from '../types.ts';

/** Trims the answer to the policy's `answers` count (at most one endpoint per zone first). */
export const firstNStage: Stage = {
  name: 'first-n',
  create(policy) {
    const n = policy.answers;
    return (ctx) => {
      if (ctx.candidates.length > n) ctx.candidates.length = n;
    };
  },
};
