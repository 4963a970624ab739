import type { DnsStage } from '../chain.ts';
import { answerStage } from './answer.ts';
import { cacheStage } from './cache.ts';
import { clientSubnetStage } from './client-subnet.ts';
import { ednsStage } from './edns.ts';
import { leanStage } from './lean.ts';
import { paddingStage } from './padding.ts';
import { parseStage } from './parse.ts';
import { rrlStage } from './rrl.ts';
import { serverIdStage } from './server-id.ts';
import { truncateStage } from './truncate.ts';
import { tsigStage } from './tsig.ts';
import { zoneMatchStage } from './zone-match.ts';

/**
 * The one list of DNS stages, in order; config turns stages on or off (rrl, cache) but
 * cannot reorder them.
 *  - rrl first: a flood costs one bucket lookup, before any parsing.
 *  - padding (DoH only) wraps the cache, so stored replies are unpadded.
 *  - cache right after: its key is the packet's own bytes (plus the source address when
 *    there is no client subnet), so a hit skips parsing and everything after it. It wraps
 *    truncate but never stores a truncated reply, and keeps UDP and TCP apart.
 *  - lean right after the cache: a miss of the common shape (one A/AAAA question for a
 *    steered name, at most an OPT with client subnet) is answered in one pass; it does what
 *    parse … answer would for it, truncation included, and passes everything else on.
 *  - truncate wraps everything that produces a reply.
 *  - tsig after edns: its NOTAUTH carries our OPT, then the TSIG.
 *  - server-id before zone-match: `id.server` (CHAOS) is outside our zone and class.
 *  - client-subnet right before answer: only a miss pays for the ECS text.
 *  - answer last: it is the only stage that consults steering.
 */
export const STAGES: readonly DnsStage[] = [
  rrlStage,
  paddingStage,
  cacheStage,
  leanStage,
  parseStage,
  truncateStage,
  ednsStage,
  tsigStage,
  serverIdStage,
  zoneMatchStage,
  clientSubnetStage,
  answerStage,
];
