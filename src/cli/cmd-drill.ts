import { parseArgs } from 'node:util';
import { systemClock } from '../core/clock.ts';
import { systemRandom } from '../core/random.ts';
import { commandFault, type DrillProgress, type DrillReport, runDrill } from '../drill/index.ts';
import { usage } from './commands.ts';
import { controlCall, controlUrl } from './control-client.ts';
import type { Io } from './io.ts';
import { OPTIONS } from './options.ts';
import { renderTable } from './table.ts';

const WORKLOADS: readonly DrillReport['workload'][] = ['echo', 'accounts', 'external', 'delivery'];

function bar(p: DrillProgress): string {
  const w = 30;
  const f = Math.min(w, Math.round((p.elapsedS / p.durationS) * w));
  return `[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${p.elapsedS.toFixed(1)}/${p.durationS}s  ${p.phase.padEnd(8)} ok ${p.ok}  failed ${p.failed} (affected users ${p.affectedFailed})`;
}

/** Renders a drill report for people. */
export function renderDrill(r: DrillReport): string {
  const rto = r.rtoMs === null ? 'not recovered' : `${(r.rtoMs / 1000).toFixed(1)} s`;
  const lines = [
    `drill: ${r.mode} ${r.zone}${r.fault === 'external' ? ' (external fault)' : ''}, ${r.workload} app, ${r.consistency} (${r.path}), ${r.rps} req/s for ${r.durationS} s, ${r.users.total} users (${r.users.affected} homed in ${r.zone}); watched through ${r.observer}`,
    '',
    renderTable(
      ['measure', 'value', 'goal'],
      [
        ['RTO', rto, `≤ ${(r.goal.rtoMs / 1000).toFixed(1)} s ${r.goal.met ? '(met)' : '(MISSED)'}`],
        [
          'misrouted writes',
          r.misrouted.writes,
          r.consistency === 'fenced' ? '0' : '(available: conflicts go to the data plane)',
        ],
        ['unverifiable answers', r.misrouted.unverifiable, ''],
        [
          'before the fault',
          `${(r.baseline * 100).toFixed(1)} % ok`,
          r.baseline < 0.99 ? 'overloaded: RTO unreliable' : '',
        ],
        ['requests', `${r.requests.ok}/${r.requests.total} ok`, ''],
        ['affected users’ requests', `${r.requests.affectedOk}/${r.requests.affected} ok`, ''],
        [
          'shards moved',
          Object.entries(r.moved)
            .map(([z, n]) => `${n} → ${z}`)
            .join(', ') || 'none',
          '',
        ],
        ['lease', `${r.leaseMs} ms`, ''],
        ...(r.relogins === undefined
          ? []
          : [
              ['sessions lost', `${r.relogins} logins again (sessions are local to their zone), writes retried`, ''],
              [
                'setup',
                `${r.users.total} users registered and logged in (${r.setupRetries ?? 0} calls retried after a 5xx)`,
                '',
              ],
            ]),
        ['RPO', r.rpo, ''],
        ...(r.unshipped && r.data
          ? [
              [
                'RPO (data plane at the cut)',
                `${r.data.rpo.count} acknowledged writes unshipped, ${Math.round(r.data.rpo.windowMs)} ms window`,
                '',
              ],
            ]
          : []),
        ['WRT', r.wrt, ''],
        ...(r.conflicts
          ? [
              [
                'conflicts opened',
                `${r.conflicts.opened} (open before ${r.conflicts.before}, after ${r.conflicts.after})`,
                r.conflicts.opened === 0
                  ? 'goal 0 met'
                  : r.conflicts.allowed
                    ? 'allowed (--allow-conflicts); resolve: multizone conflicts'
                    : 'GOAL 0 MISSED (multizone conflicts lists them)',
              ],
            ]
          : []),
        ...(r.readBack
          ? [
              [
                'read back',
                `${r.readBack.applied + r.readBack.locked}/${r.readBack.acknowledged} acknowledged writes found in all ${r.readBack.zones.length} zones (${r.readBack.profiles} profiles, ${r.readBack.comments} comments; ${r.readBack.locked} in locked records)`,
                `${(r.readBack.tookMs / 1000).toFixed(1)} s`,
              ],
            ]
          : []),
        ...(r.externalReadBack
          ? [
              [
                'read back',
                `${r.externalReadBack.found}/${r.externalReadBack.acknowledged} users' last acknowledged write read back through the routers${
                  r.externalReadBack.missing
                    ? ` (missing, by the zone that acknowledged it: ${Object.entries(r.externalReadBack.missingBy)
                        .map(([z, n]) => `${z} ${n}`)
                        .join(', ')})`
                    : ''
                }`,
                `${(r.externalReadBack.tookMs / 1000).toFixed(1)} s`,
              ],
            ]
          : []),
        [
          'lost writes',
          r.lost === null ? 'n/a' : r.lost,
          r.lost === null
            ? ''
            : `${r.lost === 0 ? 'goal 0 met' : 'GOAL 0 MISSED'}${r.readBack ? ' (read back from every zone)' : r.externalReadBack ? ' (read back from the app)' : r.delivery ? ' (orders read back at their owner)' : ' (data plane count)'}`,
        ],
      ],
    ),
    '',
    Object.keys(r.errors).length
      ? renderTable(
          ['error', 'count'],
          Object.entries(r.errors)
            .sort((a, b) => b[1] - a[1])
            .map(([k, n]) => [k, n]),
        )
      : 'errors: none',
    '',
    renderTable(
      ['second', 'affected ok', 'all ok', 'errors'],
      r.perSecond
        .filter((s) => s.second >= -1)
        .map((s) => [
          s.second,
          `${s.affectedOk}/${s.affected}`,
          `${s.ok}/${s.total}`,
          Object.entries(s.errors)
            .map(([k, n]) => `${k} ×${n}`)
            .join(', '),
        ]),
    ),
  ];
  if (r.delivery) lines.push('', renderDelivery(r.delivery));
  if (r.readBack?.missing)
    lines.push(
      '',
      `lost writes (first ${r.readBack.examples.length}):`,
      ...r.readBack.examples.map(
        (e) => `  ${e.resource}/${e.key} acknowledged by ${e.zone}, missing in ${e.missingIn.join(', ')}`,
      ),
    );
  if (r.after)
    lines.push(
      '',
      `after: shards ${Object.entries(r.after.shards)
        .sort()
        .map(([z, n]) => `${z} ${n}`)
        .join(
          ', ',
        )}; global writer ${r.after.global ? `${r.after.global.zone} (epoch ${r.after.global.epoch})` : 'none'}; zones ${Object.entries(
        r.after.states,
      )
        .sort()
        .map(([z, st]) => `${z} ${st}`)
        .join(', ')}${r.after.leader?.term === undefined ? '' : `; leader term ${r.after.leader.term}`}`,
    );
  if (r.restore)
    lines.push(
      '',
      `restore: ${r.restore.restored ? 'zone restored' : 'not restored'}${
        r.restore.failback
          ? r.restore.failback.error
            ? `; failback failed: ${r.restore.failback.error}`
            : `; failback moved ${r.restore.failback.moved} shards home in ${r.restore.failback.tookMs} ms`
          : ''
      }`,
    );
  return lines.join('\n');
}

/** The delivery workload's section: orders, lost writes, locked orders, oversold units, menu staleness. */
export function renderDelivery(d: NonNullable<DrillReport['delivery']>): string {
  const ms = (v: number | null) => (v === null ? 'not served everywhere' : `${(v / 1000).toFixed(1)} s`);
  const refused = Object.entries(d.orders.refused)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  const rows: (string | number)[][] = [
    [
      'orders',
      `${d.orders.placed} placed (${Object.entries(d.orders.placedBy)
        .sort()
        .map(([z, n]) => `${z} ${n}`)
        .join(
          ', ',
        )}), ${d.orders.transitions} transitions (${d.orders.delivered} delivered, ${d.orders.cancelled} cancelled); ${d.users} users`,
      '',
    ],
    ['refused', refused || 'none', ''],
    [
      'read back',
      `${d.readBack.found}/${d.readBack.writes} acknowledged writes of ${d.readBack.orders} orders at their owner`,
      `${(d.readBack.tookMs / 1000).toFixed(1)} s`,
    ],
    ['lost writes', `${d.lost.writes} (${d.lost.orders} orders)`, d.lost.writes === 0 ? 'goal 0 met' : 'GOAL 0 MISSED'],
    [
      'locked orders',
      `${d.locked.orders} (${d.locked.byAnswer} answered ERR_DELIVERY_ORDER_LOCKED, ${d.locked.listed} listed as conflicts)`,
      d.locked.orders ? 'resolve: multizone conflicts' : '',
    ],
    ...d.dishes.map((x) => [
      `dish ${x.id}`,
      `stock ${x.stock}: ${x.acknowledged} units acknowledged, ${x.stored ?? 'n/a'} stored, ${x.oversold} oversold`,
      '',
    ]),
    ['oversold units', d.oversold, d.oversold === 0 ? 'goal 0 met' : 'GOAL 0 MISSED'],
    [
      'menu staleness',
      `last edit (version ${d.menu.lastVersion ?? 'none'}) → every zone${Object.keys(d.menu.byZone).some((k) => k.endsWith(' edge')) ? '’s router and edge' : ''}: ${ms(d.menu.lastMs)}; worst of ${d.menu.edits} edits in the zones the fault left alone: ${ms(d.menu.maxMs)}; after the heal: ${d.menu.healed ? ms(d.menu.afterHealMs) : 'n/a (not restored)'}`,
      '',
    ],
    [
      'menu: last edit per place',
      Object.entries(d.menu.byZone)
        .map(([z, v]) => `${z} ${v === null ? 'never' : `${(v / 1000).toFixed(1)} s`}`)
        .join(', '),
      '',
    ],
  ];
  const lines = [
    `delivery (${d.menu.reads} menu reads in the traffic):`,
    renderTable(['measure', 'value', 'goal'], rows),
  ];
  if (d.lost.examples.length)
    lines.push(
      `lost (first ${d.lost.examples.length}):`,
      ...d.lost.examples.map(
        (e) =>
          `  ${e.id} acknowledged by ${e.zone} at version ${e.want}, read back ${e.got === null ? 'missing' : `at version ${e.got}`}`,
      ),
    );
  return lines.join('\n');
}

/** What the drill prints on stdout: the report as one JSON line with --json, else the tables only. */
export function drillOutput(report: DrillReport, json: boolean): string {
  return json ? JSON.stringify(report) : renderDrill(report);
}

/** `multizone drill`: fault a zone of a running cluster under traffic; report RTO and misrouting. */
export async function cmdDrill(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: OPTIONS.drill,
  });
  const rps = Number(values.rps);
  const duration = Number(values.duration);
  const writes = Number(values.writes);
  const users = values.users === undefined ? undefined : Number(values.users);
  const readBackS = Number(values['read-back-timeout']);
  if (
    !values.zone ||
    (values.mode !== 'kill' && values.mode !== 'partition') ||
    (values.consistency !== undefined && values.consistency !== 'fenced' && values.consistency !== 'available') ||
    !(rps > 0 && rps <= 20_000) ||
    !(duration >= 4 && duration <= 3600) ||
    !(writes >= 0 && writes <= 1) ||
    !(users === undefined || (Number.isInteger(users) && users > 0)) ||
    !(readBackS > 0 && readBackS <= 3600) ||
    !(values.path === undefined || /^\/[^?#\s]*[^/?#\s]$/.test(values.path)) ||
    !(values.workload === undefined || WORKLOADS.includes(values.workload as DrillReport['workload']))
  )
    return usage(
      io,
      'drill',
      values.zone ? 'an option is out of range (see the limits below)' : '--zone Z is required',
    );
  if (values['heal-cmd'] && !values['fault-cmd']) return usage(io, 'drill', '--heal-cmd needs --fault-cmd');
  if (values['fault-cmd'] && !values['heal-cmd'] && !values['no-restore'])
    return usage(io, 'drill', '--fault-cmd needs --heal-cmd to bring the zone back (or --no-restore to leave it down)');
  // before any traffic: a cluster that is not there is one clear line, not a failed drill
  const control = controlUrl(values);
  await controlCall(control, '/api/topology', 'GET');
  const tty = process.stderr.isTTY && !values.json;
  let lastLine = -1;
  // the injected clock's timers are unref'd: hold the process open while the drill runs
  const keepAlive = setInterval(() => {}, 1000); // lint-allow: keeps the CLI process alive
  const report = await runDrill({
    control,
    zone: values.zone,
    mode: values.mode,
    ...(values.consistency === undefined ? {} : { consistency: values.consistency as 'fenced' | 'available' }),
    rps,
    durationS: duration,
    writes,
    ...(users === undefined ? {} : { users }),
    ...(values.path === undefined ? {} : { path: values.path }),
    ...(values.workload === undefined ? {} : { workload: values.workload as DrillReport['workload'] }),
    readBackTimeoutMs: readBackS * 1000,
    ...(values['fault-cmd']
      ? { external: commandFault(values['fault-cmd'], values['heal-cmd'], { zone: values.zone, mode: values.mode }) }
      : {}),
    restore: !values['no-restore'],
    failback: values.failback === true,
    allowConflicts: values['allow-conflicts'] === true,
    clock: systemClock,
    random: systemRandom(),
    onProgress(p) {
      if (values.json) return;
      if (tty) process.stderr.write(`\r${bar(p)}`);
      else if (Math.floor(p.elapsedS) !== lastLine) {
        lastLine = Math.floor(p.elapsedS);
        if (lastLine % 2 === 0 || p.phase === 'draining') io.err(bar(p));
      }
    },
  }).finally(() => clearInterval(keepAlive));
  if (tty) process.stderr.write('\n');
  io.out(drillOutput(report, values.json === true));
  return report.goal.met ? 0 : 1;
}
