import type { DnsStage } from '../chain.ts';
import { answerStage } from './answer.ts';
import { cacheStage } from './cache.ts';
import { clientSubnetStage } from './client-subnet.ts';
import { ednsStage } from './edns.ts';
import { parseStage } from './parse.ts';
import { rrlStage } from './rrl.ts';
import { truncateStage } from './truncate.ts';
import { zoneMatchStage } from './zone-match.ts';

/**
 * The one list of DNS stages, in order; config turns stages on or off (rrl, cache) but
 * cannot reorder them.
 *  - rrl first: a flood costs one bucket lookup, before any parsing.
 *  - truncate wraps everything that produces a reply, and sits outside the cache so the
 *    cache always holds whole replies (the same entry serves UDP and TCP).
 *  - cache before zone-match, client-subnet and answer: a hit skips them all. Its key is
 *    built from the packet (ECS bytes or source address), so it needs no enrichment.
 *  - client-subnet right before answer: only a miss pays for the ECS text.
 *  - answer last: it is the only stage that consults steering.
 */
export const STAGES: readonly DnsStage[] = [
  rrlStage,
  parseStage,
  truncateStage,
  ednsStage,
  cacheStage,
  zoneMatchStage,
  clientSubnetStage,
  answerStage,
];
