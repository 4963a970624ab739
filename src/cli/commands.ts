/**
 * The command table: every command's usage lines, one-line summary and options, in one place.
 * `multizone help` prints all of it, `multizone CMD --help` (or `multizone help CMD`) one
 * command's part, and a usage error prints the command's usage lines. The options are the very
 * objects each command's parseArgs takes (options.ts), so help lists what the parser accepts.
 */

import { cliErrors } from './errors.ts';
import type { Io } from './io.ts';
import { EX_USAGE } from './io.ts';
import { OPTIONS, type OptionsSpec, optionLines } from './options.ts';

/** One command's help. */
export interface CommandHelp {
  /** The word after `multizone` (`lab` covers `lab up|drill|down`). */
  name: string;
  /** Usage lines, without the leading `multizone `. */
  usage: readonly string[];
  summary: string;
  /**
   * The options its parser takes, as it takes them (options.ts): help lists each key of
   * these once, `--KEY ARG` and what it does. `lab`: one per subcommand.
   */
  options: readonly OptionsSpec[];
}

/** Every command, in the order `multizone help` lists them. */
export const COMMANDS: readonly CommandHelp[] = [
  {
    name: 'up',
    usage: [
      'up [--config FILE] [--control-port N] [--zones a,b] [--app echo|accounts|delivery] [--wan-delay-ms N] [--json]',
    ],
    summary: 'start a local multi-zone cluster (default topology: 4 zones); runs until Ctrl-C',
    options: [OPTIONS.up],
  },
  {
    name: 'zone',
    usage: ['zone ZONE [--config FILE] [--app echo|accounts|delivery] [--json]'],
    summary:
      'run one zone in this process (= up --zones ZONE); {zone} in the URL settings names ZONE, the control API listens on zones.ZONE.listen.control',
    options: [OPTIONS.zone],
  },
  {
    name: 'validate',
    usage: ['validate [FILE]'],
    summary: 'check a topology file; prints OK or every problem (exit 78)',
    options: [OPTIONS.validate],
  },
  {
    name: 'geo',
    usage: ['geo IP[/PREFIX] [--config FILE] [--json]'],
    summary: 'where IP is, and what steering answers for each service',
    options: [OPTIONS.geo],
  },
  {
    name: 'cert',
    usage: ['cert [--out DIR] [--host NAME]...'],
    summary: 'write a self-signed development cert.pem + key.pem',
    options: [OPTIONS.cert],
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
    options: [OPTIONS.conflicts],
  },
  {
    name: 'drill',
    usage: [
      'drill --zone Z [--mode kill|partition] [--consistency fenced|available] [--rps N] [--duration S] [--writes 0..1] [--users N] [--path PATH] [--workload echo|accounts|external|delivery] [--read-back-timeout S] [--fault-cmd CMD --heal-cmd CMD] [--no-restore] [--failback] [--allow-conflicts] [--json] [--control URL | --config FILE]',
    ],
    summary:
      'fault a zone of the running cluster under traffic (the accounts app’s or the delivery service’s workload when it runs); report RTO, misrouting, RPO, WRT, lost writes; exit 0 when the goals are met',
    options: [OPTIONS.drill],
  },
  {
    name: 'failover',
    usage: ['failover --zone Z [--json] [--control URL | --config FILE]'],
    summary: 'planned failover (RPO 0) of a zone’s shards to its backups',
    options: [OPTIONS.failover],
  },
  {
    name: 'failback',
    usage: ['failback --zone Z [--json] [--control URL | --config FILE]'],
    summary: 'move a zone’s home shards back to it',
    options: [OPTIONS.failback],
  },
  {
    name: 'publish',
    usage: ['publish DIR --edge URL [--edge URL]... [--token T] [--prefix /static] [--manifest FILE] [--host NAME]'],
    summary:
      'fingerprint DIR’s files, push them to every edge as immutable objects, then write the manifest (only when every push succeeded)',
    options: [OPTIONS.publish],
  },
  {
    name: 'purge',
    usage: ['purge URL-OR-PREFIX... --edge URL [--edge URL]... [--token T] [--soft] [--host NAME] [--json]'],
    summary:
      'remove cached objects from every edge: a path or URL is one object, one ending in * every object under it',
    options: [OPTIONS.purge],
  },
  {
    name: 'lab',
    usage: [
      'lab up [--dir D] [--delay-ms N] [--kv nats|etcd] [--timing lab|defaults] [--detach]',
      'lab drill --zone Z --fault sigkill|partition|nats-kill [--runs N] [--duration S] [--rps N] [--users N] [--allow-conflicts] [--dir D] [--json]',
      'lab outage [--zones Z1,Z2] [--dir D] [--json]',
      'lab restart [--dir D] [--json]',
      'lab down [--dir D]',
    ],
    summary:
      '(root, Linux) a namespace per zone with its own PostgreSQL, Redis and zone process, a 3-server NATS cluster behind a delay proxy per zone; drill it; remove it',
    // lab proxy is internal (lab up starts it); its only option, --delay-ms, is lab up's too
    options: [
      OPTIONS.labUp,
      OPTIONS.labDrill,
      OPTIONS.labOutage,
      OPTIONS.labRestart,
      OPTIONS.labDown,
      OPTIONS.labProxy,
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
  const lines = optionLines(c.options);
  const w = Math.max(0, ...lines.map(([f]) => f.length));
  const opts = lines.map(([f, d]) => `  ${f.padEnd(w)}  ${d}`);
  return [usageLines(c), '', c.summary, ...(opts.length ? ['', 'options:', ...opts] : [])].join('\n');
}

/** The global help: every command with its summary and options. */
export function renderHelp(): string {
  const parts = COMMANDS.map((c) => {
    const lines = optionLines(c.options);
    const w = Math.max(0, ...lines.map(([f]) => f.length));
    return [
      ...c.usage.map((u) => `  multizone ${u}`),
      `      ${c.summary}`,
      ...lines.map(([f, d]) => `      ${f.padEnd(w)}  ${d}`),
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
