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
import { cmdPurge } from './cmd-purge.ts';
import { commandHelp, renderCommandHelp, renderHelp, usage } from './commands.ts';
import { cliErrors } from './errors.ts';
import { EX_CONFIG, EX_USAGE, guardStdout, type Io, stdio } from './io.ts';
import { OPTIONS } from './options.ts';
import { renderTable } from './table.ts';
import { upTrust } from './up-trust.ts';

/** How long a stopping process may take before it exits anyway (ms). */
const SHUTDOWN_MS = 15_000;

export { EX_CONFIG, EX_USAGE, type Io } from './io.ts';

/** The global help, from the command table (commands.ts). */
const HELP = renderHelp();

/**
 * The apps `multizone up --app NAME` can run in every zone. The CLI knows only the built-in
 * echo app; whoever runs it adds more (bin/multizone.js adds the accounts and delivery
 * examples). An in-process app is a factory of its role; an external one is the topology file
 * that starts it in every zone (`zones.<z>.app.command`), used in place of `--config`.
 */
export type AppRegistry = Readonly<Record<string, (() => AppRole | Promise<AppRole>) | { topology: string }>>;

/** The apps that come with the runtime. */
export const BUILTIN_APPS: AppRegistry = { echo: () => echoAppRole };

/** Runs the CLI; resolves to the process exit code (`up` resolves only after shutdown). */
export async function main(argv: string[], io: Io = stdio, apps: AppRegistry = BUILTIN_APPS): Promise<number> {
  const [cmd, ...rest] = argv;
  // `multizone conflicts | head -1`: a reader that goes away ends the output, not the process
  if (io === stdio) guardStdout();
  // `multizone up --help` is up's help, not an unknown option of up
  if (rest.includes('--help') || rest.includes('-h')) {
    const c = commandHelp(cmd);
    io.out(c ? renderCommandHelp(c) : HELP);
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
      case 'purge':
        return await cmdPurge(rest, io);
      case 'lab':
        return await cmdLab(rest, io);
      case 'help': {
        const c = commandHelp(rest[0]);
        if (rest[0] !== undefined && !c) return usage(io, 'help', `no command "${rest[0]}"`);
        io.out(c ? renderCommandHelp(c) : HELP);
        return 0;
      }
      case undefined:
      case '--help':
      case '-h':
        io.out(HELP);
        return 0;
      default:
        io.err(`multizone: unknown command "${cmd}"\n\n${HELP}\n(${cliErrors.ERR_CLI_USAGE.code})`);
        return EX_USAGE;
    }
  } catch (e) {
    return reportError(e, io, cmd);
  }
}

function reportError(e: unknown, io: Io, cmd: string | undefined): number {
  // a bad option: the command's usage, not the whole help
  if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS'))
    return commandHelp(cmd) ? usage(io, cmd!, e.message) : usage(io, 'help', e.message);
  if (hasCode(e, cliErrors.ERR_CLI_USAGE)) return usage(io, cmd ?? 'help', e instanceof Error ? e.message : undefined);
  if (isPlatformError(e)) {
    // one line when the message is one line (an unreachable control API, a missing folder);
    // a message that lists problems keeps the code on a line of its own
    io.err(e.message.includes('\n') ? `multizone: ${e.message}\n(${e.code})` : `multizone: ${e.message} (${e.code})`);
    return hasCode(e, coreErrors.ERR_CONFIG_INVALID) || hasCode(e, coreErrors.ERR_CONFIG_READ) ? EX_CONFIG : 1;
  }
  io.err(`multizone: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
  return 1;
}

function cmdValidate(args: string[], io: Io): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: OPTIONS.validate });
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

/** What each geo source is, as the README credits it. */
const GEO_SOURCES: Record<string, string> = {
  ip2region: 'ip2region',
  mmdb: 'DB-IP Lite country',
  'ip2region+mmdb': 'ip2region (range), DB-IP Lite (country code)',
};

function cmdGeo(args: string[], io: Io): number {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: OPTIONS.geo,
  });
  const ip = positionals[0];
  if (!ip) return usage(io, 'geo', 'an IP address is required');
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
  // the database's range around the address; the answers' ECS scope (RFC 7871) is per service below
  io.out(`  range /${loc.prefix} (where this location holds)  source ${GEO_SOURCES[loc.source] ?? loc.source}\n`);
  io.out(
    renderTable(
      ['service', 'rule', 'ttl', 'ECS scope', 'answer (best first)'],
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
    options: OPTIONS.zone,
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
    options: OPTIONS.up,
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
  let pickApp = Object.hasOwn(apps, values.app) ? apps[values.app] : undefined;
  if (!pickApp) {
    io.err(`multizone: --app must be one of ${Object.keys(apps).join(', ')} (got ${values.app})`);
    return EX_USAGE;
  }
  if (typeof pickApp !== 'function') {
    if (values.config !== undefined) {
      io.err(
        `multizone: --app ${values.app} runs with its own topology (${pickApp.topology}); drop --config, or give your topology's zones an app: with command: as that file does`,
      );
      return EX_USAGE;
    }
    values = { ...values, config: pickApp.topology };
    pickApp = () => echoAppRole; // unused: every zone's app is external
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
  const zones = values.zones?.split(',').map((s) => s.trim());
  // zones sign their calls to each other with the cluster secret (src/trust); up keeps one in store.dataDir
  const trust = upTrust(topology, zones, values.config, io);
  if (typeof trust === 'number') return trust;
  const cluster = await startCluster({ topology, control, app, zones, ...trust });
  // the signal handlers go in before the endpoints are printed: whoever waits for that line
  // (a supervisor, a test) may send SIGTERM as soon as it has read it
  const stopped = new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      io.err(`\n${sig}: shutting down`);
      // hard stop if something hangs; a busy host (a Kv across a WAN, a drain under load)
      // needs more than a few seconds for a clean stop, which keeps the restart window short
      const giveUp = () => {
        io.err(`multizone: shutdown did not finish within ${SHUTDOWN_MS / 1000} s; exiting`);
        process.exit(1);
      };
      const t = setTimeout(giveUp, SHUTDOWN_MS); // lint-allow: a process-level watchdog, outside any Clock
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
    io.out(
      `multizone "${topology.config.name}" is up: ${local.length} zone${local.length === 1 ? '' : 's'}, core zone ${topology.coreZone}\n`,
    );
    const wan = topology.config.replication.wan;
    if (topology.config.replication.log === 'memory' && wan.delayMs > 0)
      io.out(
        `replication: the in-process log delays every record ${wan.delayMs} ms (replication.wan.delayMs${values['wan-delay-ms'] !== undefined ? ', set by --wan-delay-ms' : ''})\n`,
      );
    io.out(renderTable(['zone', 'region', '', 'role', 'listens on'], zoneRows));
    io.out(
      `\ncontrol  ${controlUrl}   (GET /api, /api/endpoints, /api/steer?service=api.${topology.config.apex}&ip=1.2.4.8, /metrics)`,
    );
    io.out('Ctrl-C stops everything.');
  }
  await stopped;
  return 0;
}
