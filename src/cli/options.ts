/**
 * Every command's options, once: each object below is what the command passes to parseArgs as
 * `options` (parseArgs ignores the extra keys) and what its help lists (commands.ts renders
 * `--KEY ARG` and `help`). A new option goes here and nowhere else; no parseArgs call in src/cli
 * takes an inline options object (test/integration/cli/commands.test.ts checks).
 */

import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_LAB_DIR } from '../lab/index.ts';

/**
 * One option: a parseArgs option, with what help says about it (`help`) and, for a string
 * option, the placeholder of its value (`arg`: `--zone Z`); a boolean option has none.
 */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { readonly help: string } & (
    | { readonly type: 'string'; readonly arg: string }
    | { readonly type: 'boolean'; readonly arg?: undefined }
  );

/** One parseArgs call's options. */
export type OptionsSpec = Readonly<Record<string, OptionSpec>>;

const CONFIG = { type: 'string', arg: 'FILE', help: 'topology file (default: the bundled topology)' } as const;
const CONTROL = {
  type: 'string',
  arg: 'URL',
  help: 'the running cluster’s control API (default: control.listen of --config, else the bundled topology: http://127.0.0.1:7070)',
} as const;
const TOKEN = {
  type: 'string',
  arg: 'T',
  help: 'the edges’ admin token; else $MULTIZONE_ADMIN_TOKEN (or $MZ_EDGE_TOKEN), else the file <store.dataDir>/admin-token of --config’s topology',
} as const;
const JSON_OUT = { type: 'boolean', help: 'JSON output' } as const;
/** The commands that talk to a running cluster: --control URL, else control.listen of --config. */
const CLUSTER = { control: CONTROL, config: CONFIG } as const;

const UP = {
  config: CONFIG,
  'control-port': { type: 'string', arg: 'N', help: 'port of the control API (0..65535; default: control.listen)' },
  zones: { type: 'string', arg: 'a,b', help: 'run only these zones in this process' },
  app: {
    type: 'string',
    default: 'echo',
    arg: 'NAME',
    help: 'the zones’ app: echo (default), accounts, or delivery (an external service multizone starts in every zone, with its own topology)',
  },
  'wan-delay-ms': {
    type: 'string',
    arg: 'N',
    help: 'replication.wan.delayMs of the in-process log (0..60000), to make a drill’s RPO visible',
  },
  json: { type: 'boolean', help: 'print the control URL and listeners as one JSON line' },
} as const satisfies OptionsSpec;

const ZONE = {
  config: CONFIG,
  app: { type: 'string', default: 'echo', arg: 'NAME', help: 'the zone’s app: echo (default), accounts, or delivery' },
  json: JSON_OUT,
} as const satisfies OptionsSpec;

/** `validate [FILE]` takes no options. */
const VALIDATE = {} as const satisfies OptionsSpec;

const GEO = {
  config: CONFIG,
  json: { type: 'boolean', help: 'print the location and the answers as one JSON line' },
} as const satisfies OptionsSpec;

const CERT = {
  out: {
    type: 'string',
    arg: 'DIR',
    help: 'where to write them (default: .multizone/certs, created 0700; key.pem is 0600)',
  },
  host: {
    type: 'string',
    multiple: true,
    arg: 'NAME',
    help: 'a name the cert is for (repeatable; default: localhost); 127.0.0.1 is always in',
  },
} as const satisfies OptionsSpec;

const CONFLICTS = {
  pick: {
    type: 'string',
    arg: 'ZONE|VERSION',
    help: 'the candidate to keep: its zone, its version as listed (v3) or bare (3), or its vector',
  },
  zone: {
    type: 'string',
    arg: 'Z',
    help: 'the zone to write the resolution in (default: the first where it is locked)',
  },
  all: { type: 'boolean', help: 'resolve every open conflict (needs --pick-zone)' },
  'pick-zone': { type: 'string', arg: 'ZONE', help: 'with --all: keep ZONE’s version' },
  resource: { type: 'string', arg: 'NAME', help: 'with --all: only this resource’s conflicts' },
  'dry-run': { type: 'boolean', help: 'with --all: say what would be resolved, write nothing' },
  json: JSON_OUT,
  ...CLUSTER,
} as const satisfies OptionsSpec;

const DRILL = {
  zone: { type: 'string', arg: 'Z', help: 'the zone to fault (required)' },
  mode: {
    type: 'string',
    default: 'kill',
    arg: 'kill|partition',
    help: 'kill: its listeners and links go down; partition: it keeps serving, cut off (default kill)',
  },
  consistency: {
    type: 'string',
    arg: 'fenced|available',
    help: 'the consistency the drill holds the traffic to: fenced (echo: profiles) or available (echo: orders) (default fenced; available for the delivery app, whose orders are)',
  },
  path: {
    type: 'string',
    arg: 'PATH',
    help: 'the path the traffic writes (PUT) and reads under, PATH/<user>: an external app’s resource, e.g. /notes',
  },
  workload: {
    type: 'string',
    arg: 'echo|accounts|external|delivery',
    help: 'the workload to drive (default: the one the cluster’s app calls for, GET /api/topology)',
  },
  rps: { type: 'string', default: '300', arg: 'N', help: 'requests a second (1..20000, default 300)' },
  duration: { type: 'string', default: '20', arg: 'S', help: 'seconds of traffic (4..3600, default 20)' },
  writes: { type: 'string', default: '0.5', arg: 'F', help: 'share of writes, 0..1 (default 0.5)' },
  users: { type: 'string', arg: 'N', help: 'users (default 2000 echo, 200 accounts and delivery)' },
  'read-back-timeout': {
    type: 'string',
    default: '60',
    arg: 'S',
    help: 'seconds the read-back of acknowledged writes waits (default 60)',
  },
  'fault-cmd': {
    type: 'string',
    arg: 'CMD',
    help: 'make the fault with this command instead of the control API (needs --heal-cmd or --no-restore)',
  },
  'heal-cmd': { type: 'string', arg: 'CMD', help: 'undo the fault with this command' },
  'no-restore': { type: 'boolean', help: 'leave the zone down afterwards' },
  failback: { type: 'boolean', help: 'move the zone’s shards home after restoring it' },
  'allow-conflicts': { type: 'boolean', help: 'conflicts opened by the drill do not fail it' },
  json: { type: 'boolean', help: 'print only the report, as one JSON line' },
  ...CLUSTER,
} as const satisfies OptionsSpec;

const FAILOVER = {
  zone: { type: 'string', arg: 'Z', help: 'the zone to drain (required)' },
  json: JSON_OUT,
  ...CLUSTER,
} as const satisfies OptionsSpec;

const FAILBACK = {
  ...FAILOVER,
  zone: { type: 'string', arg: 'Z', help: 'the zone to bring back (required)' },
} as const satisfies OptionsSpec;

const EDGE = {
  type: 'string',
  multiple: true,
  arg: 'URL',
  help: 'an edge listener (repeatable, at least one)',
} as const;

const PUBLISH = {
  edge: EDGE,
  token: TOKEN,
  config: CONFIG,
  prefix: { type: 'string', default: '', arg: 'P', help: 'URL prefix of the versioned names (default none)' },
  manifest: { type: 'string', arg: 'FILE', help: 'where the manifest goes (default DIR/manifest.json)' },
  host: { type: 'string', arg: 'NAME', help: 'the Host the objects are cached under' },
} as const satisfies OptionsSpec;

const PURGE = {
  edge: EDGE,
  token: TOKEN,
  config: CONFIG,
  soft: { type: 'boolean', help: 'mark them stale (served while revalidating) instead of removing them' },
  host: { type: 'string', arg: 'NAME', help: 'the Host of relative paths (default: the edge’s own)' },
  json: { type: 'boolean', help: 'print each edge’s answer as JSON' },
} as const satisfies OptionsSpec;

// lab: one object per subcommand; help lists their union once per key, so a key several
// subcommands share has one help text (and the first subcommand's wins)
const LAB_DIR = { type: 'string', default: DEFAULT_LAB_DIR, arg: 'D', help: 'the lab’s folder' } as const;
const LAB_JSON = { type: 'boolean', help: 'lab drill, outage, restart: JSON output' } as const;

const LAB_UP = {
  dir: LAB_DIR,
  'delay-ms': {
    type: 'string',
    default: '2',
    arg: 'N',
    help: 'lab up: one-way delay between zones (0..5000, default 2)',
  },
  detach: { type: 'boolean', help: 'lab up: return once the lab is up' },
  kv: {
    type: 'string',
    default: 'nats',
    arg: 'nats|etcd',
    help: 'lab up: where the control Kv lives: a JetStream bucket (default) or a 3-member etcd cluster with pre-vote',
  },
  timing: {
    type: 'string',
    default: 'lab',
    arg: 'lab|defaults',
    help: "lab up: failover, health and router timing: the lab's quick settings (default) or multizone's defaults (the topology sets none)",
  },
} as const satisfies OptionsSpec;

const LAB_DRILL = {
  dir: LAB_DIR,
  zone: { type: 'string', arg: 'Z', help: 'lab drill: the zone to fault' },
  fault: {
    type: 'string',
    default: 'sigkill',
    arg: 'F',
    help: 'lab drill: sigkill, partition or nats-kill (default sigkill)',
  },
  runs: { type: 'string', default: '1', arg: 'N', help: 'lab drill: how many drills (1..100, default 1)' },
  duration: { type: 'string', default: '20', arg: 'S', help: 'lab drill: seconds of traffic (4..3600, default 20)' },
  rps: { type: 'string', default: '50', arg: 'N', help: 'lab drill: requests a second (default 50)' },
  users: { type: 'string', arg: 'N', help: 'lab drill: users' },
  'allow-conflicts': { type: 'boolean', help: 'lab drill: conflicts do not fail it' },
  json: LAB_JSON,
} as const satisfies OptionsSpec;

const LAB_OUTAGE = {
  dir: LAB_DIR,
  zones: {
    type: 'string',
    default: 'sh-b,gz-a',
    arg: 'Z1,Z2',
    help: 'lab outage: the zones killed together (default sh-b,gz-a)',
  },
  json: LAB_JSON,
} as const satisfies OptionsSpec;

const LAB_RESTART = { dir: LAB_DIR, json: LAB_JSON } as const satisfies OptionsSpec;

const LAB_DOWN = { dir: LAB_DIR } as const satisfies OptionsSpec;

/** `lab proxy`: internal (lab up starts it in each zone's namespace); its --delay-ms defaults to 0. */
const LAB_PROXY = {
  'delay-ms': { type: 'string', default: '0', arg: 'N', help: 'lab proxy: one-way delay each way (default 0)' },
} as const satisfies OptionsSpec;

/** Every parseArgs call's options in src/cli, by command (lab: by subcommand). */
export const OPTIONS = {
  up: UP,
  zone: ZONE,
  validate: VALIDATE,
  geo: GEO,
  cert: CERT,
  conflicts: CONFLICTS,
  drill: DRILL,
  failover: FAILOVER,
  failback: FAILBACK,
  publish: PUBLISH,
  purge: PURGE,
  labUp: LAB_UP,
  labDrill: LAB_DRILL,
  labOutage: LAB_OUTAGE,
  labRestart: LAB_RESTART,
  labDown: LAB_DOWN,
  labProxy: LAB_PROXY,
} as const;

/** A string option with its placeholder (`--zone Z`), a boolean one bare (`--json`). */
export function flagText(key: string, o: OptionSpec): string {
  return o.arg === undefined ? `--${key}` : `--${key} ${o.arg}`;
}

/** [flag, help] per option of the specs, each key once (the first spec's wins), in order. */
export function optionLines(specs: readonly OptionsSpec[]): [string, string][] {
  const seen = new Map<string, [string, string]>();
  for (const spec of specs)
    for (const [key, o] of Object.entries(spec)) if (!seen.has(key)) seen.set(key, [flagText(key, o), o.help]);
  return [...seen.values()];
}
