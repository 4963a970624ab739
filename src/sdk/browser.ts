/**
 * The browser-safe SDK: no node: imports here or in anything this file imports (a test
 * walks the import graph). Node users import `multizone/sdk` (index.ts), which adds
 * the system resolver and connection helpers.
 */
export { isPlatformError } from '../core/errors.ts';
export { sdkErrors } from './errors.ts';
export { IpRanker, type IpScore, type RankerOptions } from './ranking.ts';
export { SpeedReporter, type SpeedSample } from './reporter.ts';
export {
  type AnswerSource,
  createResolver,
  type HijackEvent,
  MAX_BATCH,
  type Resolution,
  type Resolver,
  type ResolverEvents,
  type ResolverOptions,
  type ResolverStats,
  type SystemAddress,
  type SystemLookup,
} from './resolver.ts';
