/**
 * The command table: every command's usage lines, one-line summary and options, in one place.
 * `multizone help` prints all of it, `multizone CMD --help` (or `multizone help CMD`) one
 * command's part, and a usage error prints the command's usage lines. Parsing stays in each
 * command's file (parseArgs); this table is what people read.
 */

import { cliErrors } from './errors.ts';
import type { Io } from './io.ts';
import { EX_USAGE } from './io.ts';

/** One command's help. */
export interface CommandHelp {
  /** The word after `multizone` (`lab` covers `lab up|drill|down`). */
  name: string;
  /** Usage lines, without the leading `multizone `. */
  usage: readonly string[];
  summary: string;
  /** [flag, what it does (and its default)]. */
  options: readonly (readonly [string, string])[];
}

const CONTROL: readonly [string, string] = [
  '--control URL',
  'the running cluster’s control API (default: control.listen of --config, else the bundled topology: http://127.0.0.1:7070)',
];
const CONFIG: readonly [string, string] = ['--config FILE', 'topology file (default: the bundled topology)'];
const TOKEN: readonly [string, string] = [
  '--token T',
  'the edges’ admin token; else $MULTIZONE_ADMIN_TOKEN (or $MZ_EDGE_TOKEN), else the file <store.dataDir>/admin-token of --config’s topology',
];

/** Every command, in the order `multizone help` lists them. */
export const COMMANDS: readonly CommandHelp[] = [
  {
    name: 'up',
    usage: ['up [--config FILE] [--control-port N] [--zones a,b] [--app echo|accounts] [--wan-delay-ms N] [--json]'],
    summary: 'start a local multi-zone cluster (default topology: 4 zones); runs until Ctrl-C',
    options: [
      CONFIG,
      ['--control-port N', 'port of the control API (0..65535; default: control.listen)'],
      ['--zones a,b', 'run only these zones in this process'],
      ['--app NAME', 'the zones’ app: echo (default) or accounts'],
      ['--wan-delay-ms N', 'replication.wan.delayMs of the in-process log (0..60000), to make a drill’s RPO visible'],
      ['--json', 'print the control URL and listeners as one JSON line'],
    ],
  },
  {
    name: 'zone',
    usage: ['zone ZONE [--config FILE] [--app echo|accounts] [--json]'],
    summary:
      'run one zone in this process (= up --zones ZONE); {zone} in the URL settings names ZONE, the control API listens on zones.ZONE.listen.control',
    options: [CONFIG, ['--app NAME', 'the zone’s app: echo (default) or accounts'], ['--json', 'JSON output']],
  },
  {
    name: 'validate',
    usage: ['validate [FILE]'],
    summary: 'check a topology file; prints OK or every problem (exit 78)',
    options: [],
  },
  {
    name: 'geo',
    usage: ['geo IP[/PREFIX] [--config FILE] [--json]'],
    summary: 'where IP is, and what steering answers for each service',
    options: [CONFIG, ['--json', 'print the location and the answers as one JSON line']],
  },
  {
    name: 'cert',
    usage: ['cert [--out DIR] [--host NAME]...'],
    summary: 'write a self-signed development cert.pem + key.pem',
    options: [
      ['--out DIR', 'where to write them (default: .multizone/certs, created 0700; key.pem is 0600)'],
      ['--host NAME', 'a name the cert is for (repeatable; default: localhost); 127.0.0.1 is always in'],
    ],
  },
  {
    name: 'conflicts',
    usage: [
      'conflicts [--json] [--control URL | --config FILE]',
      'conflicts resolve ID --pick ZONE|VERSION [--zone Z] [--json] [--control URL]',
      'conflicts resolve --all --pick-zone ZONE [--resource NAME] [--dry-run] [--json] [--control URL]',
    ],
    summary:
      'list records locked by replication conflicts, resolve one, or resolve every one by one zone’s version (on every alive process; a conflict without one is skipped, exit 1)',
    options: [
      ['--pick ZONE|VERSION', 'the candidate to keep: its zone, its version as listed (v3) or bare (3), or its vector'],
      ['--zone Z', 'the zone to write the resolution in (default: the first where it is locked)'],
      ['--all', 'resolve every open conflict (needs --pick-zone)'],
      ['--pick-zone ZONE', 'with --all: keep ZONE’s version'],
      ['--resource NAME', 'with --all: only this resource’s conflicts'],
      ['--dry-run', 'with --all: say what would be resolved, write nothing'],
      ['--json', 'JSON output'],
      CONTROL,
      CONFIG,
    ],
  },
  {
    name: 'drill',
    usage: [
      'drill --zone Z [--mode kill|partition] [--consistency fenced|available] [--rps N] [--duration S] [--writes 0..1] [--users N] [--read-back-timeout S] [--fault-cmd CMD --heal-cmd CMD] [--no-restore] [--failback] [--allow-conflicts] [--json] [--control URL | --config FILE]',
    ],
    summary:
      'fault a zone of the running cluster under traffic (the accounts app’s workload when it runs); report RTO, misrouting, RPO, WRT, lost writes; exit 0 when the goals are met',
    options: [
      ['--zone Z', 'the zone to fault (required)'],
      [
        '--mode kill|partition',
        'kill: its listeners and links go down; partition: it keeps serving, cut off (default kill)',
      ],
      ['--consistency fenced|available', 'echo workload: fenced (profiles) or available (orders) (default fenced)'],
      ['--rps N', 'requests a second (1..20000, default 300)'],
      ['--duration S', 'seconds of traffic (4..3600, default 20)'],
      ['--writes F', 'share of writes, 0..1 (default 0.5)'],
      ['--users N', 'users (default 2000 echo, 200 accounts)'],
      ['--read-back-timeout S', 'seconds the accounts read-back waits (default 60)'],
      [
        '--fault-cmd CMD',
        'make the fault with this command instead of the control API (needs --heal-cmd or --no-restore)',
      ],
      ['--heal-cmd CMD', 'undo the fault with this command'],
      ['--no-restore', 'leave the zone down afterwards'],
      ['--failback', 'move the zone’s shards home after restoring it'],
      ['--allow-conflicts', 'conflicts opened by the drill do not fail it'],
      ['--json', 'print only the report, as one JSON line'],
      CONTROL,
      CONFIG,
    ],
  },
  {
    name: 'failover',
    usage: ['failover --zone Z [--json] [--control URL | --config FILE]'],
    summary: 'planned failover (RPO 0) of a zone’s shards to its backups',
    options: [['--zone Z', 'the zone to drain (required)'], ['--json', 'JSON output'], CONTROL, CONFIG],
  },
  {
    name: 'failback',
    usage: ['failback --zone Z [--json] [--control URL | --config FILE]'],
    summary: 'move a zone’s home shards back to it',
    options: [['--zone Z', 'the zone to bring back (required)'], ['--json', 'JSON output'], CONTROL, CONFIG],
  },
  {
    name: 'publish',
    usage: ['publish DIR --edge URL [--edge URL]... [--token T] [--prefix /static] [--manifest FILE] [--host NAME]'],
    summary:
      'fingerprint DIR’s files, push them to every edge as immutable objects, then write the manifest (only when every push succeeded)',
    options: [
      ['--edge URL', 'an edge listener (repeatable, at least one)'],
      TOKEN,
      CONFIG,
      ['--prefix P', 'URL prefix of the versioned names (default none)'],
      ['--manifest FILE', 'where the manifest goes (default DIR/manifest.json)'],
      ['--host NAME', 'the Host the objects are cached under'],
    ],
  },
  {
    name: 'purge',
    usage: ['purge URL-OR-PREFIX... --edge URL [--edge URL]... [--token T] [--soft] [--host NAME] [--json]'],
    summary:
      'remove cached objects from every edge: a path or URL is one object, one ending in * every object under it',
    options: [
      ['--edge URL', 'an edge listener (repeatable, at least one)'],
      TOKEN,
      CONFIG,
      ['--soft', 'mark them stale (served while revalidating) instead of removing them'],
      ['--host NAME', 'the Host of relative paths (default: the edge’s own)'],
      ['--json', 'print each edge’s answer as JSON'],
    ],
  },
  {
    name: 'lab',
    usage: [
      'lab up [--dir D] [--delay-ms N] [--detach]',
      'lab drill --zone Z --fault sigkill|partition|nats-kill [--runs N] [--duration S] [--rps N] [--users N] [--allow-conflicts] [--dir D] [--json]',
      'lab outage [--zones Z1,Z2] [--dir D] [--json]',
      'lab restart [--dir D] [--json]',
      'lab down [--dir D]',
    ],
    summary:
      '(root, Linux) a namespace per zone with its own PostgreSQL, Redis and zone process, a 3-server NATS cluster behind a delay proxy per zone; drill it; remove it',
    options: [
      ['--dir D', 'the lab’s folder'],
      ['--delay-ms N', 'lab up: one-way delay between zones (0..5000, default 2)'],
      ['--detach', 'lab up: return once the lab is up'],
      ['--zone Z', 'lab drill: the zone to fault'],
      ['--fault F', 'lab drill: sigkill, partition or nats-kill (default sigkill)'],
      ['--runs N', 'lab drill: how many drills (1..100, default 1)'],
      ['--duration S', 'lab drill: seconds of traffic (4..3600, default 20)'],
      ['--rps N', 'lab drill: requests a second (default 50)'],
      ['--users N', 'lab drill: users'],
      ['--allow-conflicts', 'lab drill: conflicts do not fail it'],
      ['--zones Z1,Z2', 'lab outage: the zones killed together (default sh-b,gz-a)'],
      ['--json', 'lab drill, outage, restart: JSON output'],
    ],
  },
  {
    name: 'help',
    usage: ['help [COMMAND]', 'COMMAND --help'],
    summary: 'this text, or one command’s',
    options: [],
  },
];

/** The table entry of a command, if it has one. */
export function commandHelp(name: string | undefined): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === name);
}

function usageLines(c: CommandHelp): string {
  return c.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}multizone ${u}`).join('\n');
}

/** One command's help: usage, summary, options. */
export function renderCommandHelp(c: CommandHelp): string {
  const w = Math.max(0, ...c.options.map(([f]) => f.length));
  const opts = c.options.map(([f, d]) => `  ${f.padEnd(w)}  ${d}`);
  return [usageLines(c), '', c.summary, ...(opts.length ? ['', 'options:', ...opts] : [])].join('\n');
}

/** The global help: every command with its summary and options. */
export function renderHelp(): string {
  const parts = COMMANDS.map((c) => {
    const w = Math.max(0, ...c.options.map(([f]) => f.length));
    return [
      ...c.usage.map((u) => `  multizone ${u}`),
      `      ${c.summary}`,
      ...c.options.map(([f, d]) => `      ${f.padEnd(w)}  ${d}`),
    ].join('\n');
  });
  return `multizone — one service, active-active across zones\n\ncommands:\n${parts.join('\n\n')}\n\nmultizone COMMAND --help shows one command.`;
}

/**
 * A usage error: `multizone: <problem>`, the command's usage lines, `(ERR_CLI_USAGE)`;
 * returns 64 (EX_USAGE) for the command to return.
 */
export function usage(io: Io, command: string, problem?: string): number {
  const c = commandHelp(command);
  const lines = [
    ...(problem ? [`multizone: ${problem}`] : []),
    ...(c ? [usageLines(c), `(multizone ${command} --help lists the options)`] : []),
    `(${cliErrors.ERR_CLI_USAGE.code})`,
  ];
  io.err(lines.join('\n'));
  return EX_USAGE;
}
