import { parseArgs } from 'node:util';
import { formatProblem, readYamlSource } from '../core/config.ts';
import { coreErrors, hasCode, isPlatformError } from '../core/errors.ts';
import { defaultGeoDb } from '../geo/index.ts';
import { type AppRole, echoAppRole, startCluster } from '../runtime/index.ts';
import { createSteering } from '../steering/index.ts';
import { checkTopology, DEFAULT_TOPOLOGY_FILE, loadTopology, parseTopology, type Topology } from '../topology/index.ts';
import { cmdCert } from './cmd-cert.ts';
import { cmdConflicts } from './cmd-conflicts.ts';
import { cmdDrill } from './cmd-drill.ts';
import { cmdFailover } from './cmd-failover.ts';
import { cmdLab } from './cmd-lab.ts';
import { cmdPublish } from './cmd-publish.ts';
import { EX_CONFIG, EX_USAGE, type Io, stdio } from './io.ts';
import { renderTable } from './table.ts';

export { EX_CONFIG, EX_USAGE, type Io } from './io.ts';

const HELP = `multizone — one service, active-active across zones

usage:
  multizone up [--config FILE] [--control-port N] [--zones a,b] [--app echo|accounts] [--wan-delay-ms N] [--json]
                                 start a local multi-zone cluster (default topology: 4 zones);
                                 --wan-delay-ms sets replication.wan.delayMs (in-process log)
  multizone zone ZONE [--config FILE] [--app echo|accounts] [--json]
                                 run one zone in this process (= up --zones ZONE): one process
                                 per zone from one shared topology; {zone} in the URL settings
                                 names ZONE, the control API listens on zones.ZONE.listen.control
  multizone validate [FILE]      check a topology file; prints OK or every problem
  multizone geo IP [--config FILE]
                                 where IP is, and what steering answers for each service
  multizone cert [--out DIR] [--host NAME]...
                                 write a self-signed development cert.pem + key.pem
  multizone conflicts [resolve ID --pick ZONE|VERSION] [--control URL]
                                 list records locked by replication conflicts, or resolve one
  multizone conflicts resolve --all --pick-zone ZONE [--resource NAME] [--dry-run] [--json]
                                 resolve every open conflict (of one resource) by ZONE's version,
                                 on every alive process; a conflict without one is skipped (exit 1)
  multizone drill --zone Z [--mode kill|partition] [--consistency fenced|available] [--rps N] [--duration S] [--json]
                                 fault a zone of the running cluster under traffic (the accounts app's
                                 workload when it runs); report RTO, misrouting, RPO, WRT, lost writes
  multizone failover --zone Z    planned failover (RPO 0) of a zone's shards to its backups
  multizone failback --zone Z    move a zone's home shards back to it
  multizone publish DIR --edge URL --token T
                                 fingerprint DIR's files, write a manifest, push them to edges
  multizone lab up [--dir D] [--delay-ms N] [--detach]
                                 (root, Linux) a namespace per zone with its own PostgreSQL, Redis and
                                 zone process, a 3-server NATS cluster behind a delay proxy per zone
  multizone lab drill --zone Z --fault sigkill|partition|nats-kill [--runs N] [--duration S] [--rps N] [--json]
                                 drill the lab under traffic; the lab makes the fault
  multizone lab down [--dir D]   remove the lab (processes, namespaces, bridge, route, data)
  multizone help                 this text
`;

/**
 * The apps `multizone up --app NAME` can run in every zone. The CLI knows only the built-in
 * echo app; whoever runs it adds more (bin/multizone.js adds the accounts example).
 */
export type AppRegistry = Readonly<Record<string, () => AppRole | Promise<AppRole>>>;

/** The apps that come with the runtime. */
export const BUILTIN_APPS: AppRegistry = { echo: () => echoAppRole };

/** Runs the CLI; resolves to the process exit code (`up` resolves only after shutdown). */
export async function main(argv: string[], io: Io = stdio, apps: AppRegistry = BUILTIN_APPS): Promise<number> {
  const [cmd, ...rest] = argv;
  // `multizone up --help` is help, not an unknown option of up
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(HELP);
    return 0;
  }
  try {
    switch (cmd) {
      case 'up':
        return await cmdUp(rest, io, apps);
      case 'zone':
        return await cmdZone(rest, io, apps);
      case 'validate':
        return cmdValidate(rest, io);
      case 'geo':
        return cmdGeo(rest, io);
      case 'cert':
        return await cmdCert(rest, io);
      case 'drill':
        return await cmdDrill(rest, io);
      case 'failover':
      case 'failback':
        return await cmdFailover(cmd, rest, io);
      case 'conflicts':
        return await cmdConflicts(rest, io);
      case 'publish':
        return await cmdPublish(rest, io);
      case 'lab':
        return await cmdLab(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return 0;
      default:
        io.err(`multizone: unknown command "${cmd}"\n\n${HELP}`);
        return EX_USAGE;
    }
  } catch (e) {
    return reportError(e, io);
  }
}

function reportError(e: unknown, io: Io): number {
  if (isPlatformError(e)) {
    io.err(`multizone: ${e.message}`);
    io.err(`(${e.code})`);
    return hasCode(e, coreErrors.ERR_CONFIG_INVALID) || hasCode(e, coreErrors.ERR_CONFIG_READ) ? EX_CONFIG : 1;
  }
  if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
    io.err(`multizone: ${e.message}\n\n${HELP}`);
    return EX_USAGE;
  }
  io.err(`multizone: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
  return 1;
}

function cmdValidate(args: string[], io: Io): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0] ?? DEFAULT_TOPOLOGY_FILE;
  const { problems, topology } = checkTopology(readYamlSource(file));
  for (const p of problems) (p.severity === 'error' ? io.err : io.out)(formatProblem(p));
  if (!topology) {
    io.err(`${problems.filter((p) => p.severity === 'error').length} error(s); ${file} is not valid`);
    return EX_CONFIG;
  }
  io.out(
    `OK ${file}: ${topology.zones.length} zones, core ${topology.coreZone}, ${Object.keys(topology.config.services).length} services, ${topology.config.shards.count} shards`,
  );
  return 0;
}

function cmdGeo(args: string[], io: Io): number {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, json: { type: 'boolean' } },
  });
  const ip = positionals[0];
  if (!ip) {
    io.err('usage: multizone geo IP[/PREFIX] [--config FILE]');
    return EX_USAGE;
  }
  const geo = defaultGeoDb();
  const loc = geo.lookup(ip);
  const topology = loadTopology(values.config);
  const steering = createSteering({ topology, geo });
  const answers = Object.keys(topology.config.services).map((service) => {
    const family = ip.includes(':') && topology.zones.some((z) => z.addresses6.length) ? 6 : 4;
    return steering.decide({ service, client: ip, family });
  });
  if (values.json) {
    io.out(JSON.stringify({ ip, location: loc, answers: answers.map((a) => ({ ...a, location: undefined })) }));
    return 0;
  }
  io.out(`${ip}`);
  io.out(
    `  country ${loc.country ?? '-'}  province ${loc.province ?? '-'}  city ${loc.city ?? '-'}  isp ${loc.isp ?? '-'}  asn ${loc.asn ?? '-'}`,
  );
  io.out(`  network /${loc.prefix} (ECS scope)  source ${loc.source}\n`);
  io.out(
    renderTable(
      ['service', 'rule', 'ttl', 'scope', 'answer (best first)'],
      answers.map((a) => [
        a.service,
        a.rule,
        a.ttl,
        `/${a.scope}`,
        a.endpoints.map((e) => `${e.host} (${e.zone})`).join(', ') + (a.failOpen ? '  [fail-open]' : ''),
      ]),
    ),
  );
  return 0;
}

/** `multizone zone ZONE`: one zone's process, the same as `up --zones ZONE`. */
async function cmdZone(args: string[], io: Io, apps: AppRegistry): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean' },
      app: { type: 'string', default: 'echo' },
    },
  });
  if (positionals.length !== 1 || positionals[0]!.includes(',')) {
    io.err('usage: multizone zone ZONE [--config FILE] [--app NAME] [--json]  (one zone; up --zones a,b runs several)');
    return EX_USAGE;
  }
  return runUp({ ...values, zones: positionals[0] }, io, apps);
}

async function cmdUp(args: string[], io: Io, apps: AppRegistry): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'control-port': { type: 'string' },
      zones: { type: 'string' },
      json: { type: 'boolean' },
      app: { type: 'string', default: 'echo' },
      'wan-delay-ms': { type: 'string' },
    },
  });
  return runUp(values, io, apps);
}

/** The options of `up` (`zone ZONE` is `up --zones ZONE`). */
interface UpOptions {
  config?: string | undefined;
  'control-port'?: string | undefined;
  zones?: string | undefined;
  json?: boolean | undefined;
  app: string;
  'wan-delay-ms'?: string | undefined;
}

/** Starts the cluster (or the `zones` of it), prints its listeners, runs until SIGINT/SIGTERM. */
async function runUp(values: UpOptions, io: Io, apps: AppRegistry): Promise<number> {
  const pickApp = Object.hasOwn(apps, values.app) ? apps[values.app] : undefined;
  if (!pickApp) {
    io.err(`multizone: --app must be one of ${Object.keys(apps).join(', ')} (got ${values.app})`);
    return EX_USAGE;
  }
  let topology: Topology;
  if (values['wan-delay-ms'] !== undefined) {
    // the simulated WAN of the in-process log: makes the RPO window of a drill visible
    const ms = Number(values['wan-delay-ms']);
    if (!(Number.isFinite(ms) && ms >= 0 && ms <= 60_000)) {
      io.err(`multizone: --wan-delay-ms must be 0..60000 (got ${values['wan-delay-ms']})`);
      return EX_USAGE;
    }
    const src = readYamlSource(values.config ?? DEFAULT_TOPOLOGY_FILE);
    src.doc.setIn(['replication', 'wan', 'delayMs'], ms);
    topology = parseTopology(src.doc.toString(), src.file);
    if (topology.config.replication.log !== 'memory')
      io.err('multizone: --wan-delay-ms applies to the in-process log only (replication.log: memory)');
  } else topology = loadTopology(values.config);
  for (const w of topology.warnings) io.err(formatProblem(w));
  let control: { host: string; port: number } | undefined;
  if (values['control-port'] !== undefined) {
    const port = Number(values['control-port']);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      io.err(`multizone: --control-port must be 0..65535 (got ${values['control-port']})`);
      return EX_USAGE;
    }
    control = { host: '127.0.0.1', port };
  }
  const app = await pickApp();
  const cluster = await startCluster({ topology, control, app, zones: values.zones?.split(',').map((s) => s.trim()) });
  // the signal handlers go in before the endpoints are printed: whoever waits for that line
  // (a supervisor, a test) may send SIGTERM as soon as it has read it
  const stopped = new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      io.err(`\n${sig}: shutting down`);
      // hard stop if something hangs: shutdown must finish within 5 s
      const t = setTimeout(() => process.exit(1), 5000); // lint-allow: process-level watchdog
      t.unref();
      void cluster.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const controlUrl = `http://${cluster.control.host}:${cluster.control.port}`;
  if (values.json) {
    io.out(JSON.stringify({ control: controlUrl, endpoints: cluster.listeners }));
  } else {
    const local = topology.zones.filter((z) => cluster.services.localZones.includes(z.name));
    const zoneRows = local.flatMap((z) =>
      cluster.listeners
        .filter((l) => l.zone === z.name)
        .map((l, i) => [
          i === 0 ? z.name : '',
          i === 0 ? z.region : '',
          i === 0 && z.core ? 'core' : '',
          l.role,
          `${l.protocol}://${l.host}:${l.port}`,
        ]),
    );
    io.out(`multizone "${topology.config.name}" is up: ${local.length} zones, core zone ${topology.coreZone}\n`);
    io.out(renderTable(['zone', 'region', '', 'role', 'listens on'], zoneRows));
    io.out(
      `\ncontrol  ${controlUrl}   (GET /api, /api/endpoints, /api/steer?service=api.${topology.config.apex}&ip=1.2.4.8, /metrics)`,
    );
    io.out('Ctrl-C stops everything.');
  }
  await stopped;
  return 0;
}
