import type { ControlApi } from './server.ts';

/**
 * The browser side of the dashboard, plain JavaScript. `render(data)` is pure (data in,
 * HTML out) so tests can run it in node:vm against the real API answers; `boot()` runs only
 * in a browser and polls the APIs every 2 s. APIs that answer 404 (not built yet) are shown
 * as absent, not as errors. Processes and listeners cover the whole cluster: every process
 * publishes its own in the control Kv (GET /api/cluster, GET /api/endpoints), and so are the
 * zones' loads and shed shares (GET /api/load).
 */
export const DASHBOARD_SCRIPT = String.raw`
// [name, path]: the shard map without its per-shard list, which the page doesn't show
var APIS = [['topology', '/api/topology'], ['cluster', '/api/cluster'], ['endpoints', '/api/endpoints'],
  ['health', '/api/health'], ['load', '/api/load'], ['shardmap', '/api/shardmap?shards=0'], ['replication', '/api/replication'],
  ['anycast', '/api/cluster/anycast']];

function esc(v) {
  return String(v == null ? '' : v).replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
  });
}

function badge(up, text) {
  var cls = up === true ? 'up' : up === false ? 'down' : 'unknown';
  return '<span class="b ' + cls + '">' + esc(text || cls) + '</span>';
}

function table(head, rows) {
  if (!rows.length) return '<p class="muted">none</p>';
  return '<table><thead><tr>' + head.map(function (h) { return '<th>' + esc(h) + '</th>'; }).join('') +
    '</tr></thead><tbody>' + rows.map(function (r) { return '<tr>' + r.map(function (c) { return '<td>' + c + '</td>'; }).join('') + '</tr>'; }).join('') +
    '</tbody></table>';
}

function pct(x) {
  return Math.round(x * 1000) / 10 + ' %';
}

// a zone's load against its capacity, and the share of its clients steered to the next tier
function loadCells(l) {
  if (!l) return ['<span class="muted">not measured</span>', ''];
  var load = esc(fmt(l.load)) + ' rps <span class="muted">edge ' + esc(fmt(l.edge)) + ' &middot; router ' + esc(fmt(l.router)) + '</span>';
  var shed = l.shedding
    ? badge(false, 'shedding') + ' ' + esc(pct(l.share)) + (l.target !== l.share ? ' <span class="muted">&rarr; ' + esc(pct(l.target)) + '</span>' : '')
    : l.over ? badge(false, 'over') : '<span class="muted">&ndash;</span>';
  return [load, shed];
}

function zonesSection(topo, health, load) {
  var verdicts = {};
  ((health && health.zones) || []).forEach(function (z) { verdicts[z.zone] = z; });
  var loads = {};
  ((load && load.zones) || []).forEach(function (z) { loads[z.zone] = z; });
  var rows = topo.zones.map(function (z) {
    var v = verdicts[z.name];
    var listen = Object.keys(z.listen).map(function (r) { return esc(r) + ' ' + esc(z.listen[r].host + ':' + z.listen[r].port); }).join('<br>');
    return [
      '<b>' + esc(z.name) + '</b>' + (z.core ? ' <span class="b core">core</span>' : ''),
      esc(z.region),
      v ? badge(v.up) + ' <span class="muted">' + esc(v.keyEndpoint || '') + '</span>' : badge(null, health && health.enabled ? 'unknown' : 'not checked'),
      esc((z.backups || []).join(', ')),
      esc(z.capacity) + ' rps',
    ].concat(loadCells(loads[z.name]), [listen]);
  });
  var exhausted = load && load.exhausted
    ? '<p><span class="b down">capacity exhausted</span> every zone is over capacity or down: answers follow preference</p>' : '';
  return '<h2>Zones</h2>' + exhausted + table(['zone', 'region', 'verdict', 'backups', 'capacity', 'load', 'shed', 'listeners'], rows);
}

function healthSection(health) {
  if (!health) return '<h2>Health</h2><p class="muted">no health API</p>';
  if (!health.enabled) return '<h2>Health</h2><p class="muted">health checking is disabled</p>';
  var probers = health.probers || [];
  var rows = health.endpoints.map(function (e) {
    return [
      '<b>' + esc(e.endpointId) + '</b> <span class="muted">' + esc(e.kind + ' ' + e.host + ':' + e.port) + '</span>',
      badge(e.up) + (e.up && e.answered === false ? ' <span class="muted">zone down: not answered</span>' : '') +
        (e.changes ? ' <span class="muted">' + esc(e.changes) + ' flips</span>' : ''),
    ].concat(probers.map(function (p) {
      var v = e.votes[p];
      if (!v) return '';
      var up = v.state === 'up' ? true : v.state === 'down' ? false : null;
      var detail = v.lastResult === 'ok'
        ? esc(v.successes) + '&#10003; ' + esc(v.lastRttMs == null ? '' : v.lastRttMs.toFixed(1) + ' ms')
        : v.lastResult === 'fail' ? esc(v.failures) + '&#10007; ' + esc(v.lastError ? v.lastError.code.replace('ERR_HEALTH_PROBE_', '').toLowerCase() : '') : '';
      return '<span title="' + esc(v.lastError ? v.lastError.message : '') + '">' + badge(up, v.state) + ' ' + detail + '</span>';
    }));
  });
  return '<h2>Health</h2><p class="muted">every ' + esc(health.intervalMs) + ' ms, timeout ' + esc(health.timeoutMs) +
    ' ms, rise ' + esc(health.rise) + ', fall ' + esc(health.fall) + ', quorum ' + esc(health.quorum) + ' of ' + esc(probers.length) +
    ' probers</p>' + table(['endpoint', 'verdict'].concat(probers.map(function (p) { return 'vote of ' + p; })), rows);
}

// every process of the cluster (GET /api/cluster), this one first; a dead one stays listed
function processesSection(cluster) {
  if (!cluster) return '';
  var rows = cluster.processes.map(function (p) {
    // only a web URL becomes a link: a record in the Kv is not trusted to be one
    var control = /^http[s]?:/.test(p.control) ? '<a href="' + esc(p.control) + '/">' + esc(p.control) + '</a>' : esc(p.control);
    var links = (p.links || []).map(function (l) {
      return badge(l.state === 'down' ? false : l.state === 'ok' ? true : null, l.from + '→' + l.to) +
        (l.records ? ' <span class="muted">' + esc(l.records) + ' behind, ' + esc(fmt(l.seconds)) + ' s</span>' : '');
    }).join('<br>');
    return [
      '<b>' + esc(p.id) + '</b>' + (p.here ? ' <span class="b core">here</span>' : '') +
        '<br><span class="muted">pid ' + esc(p.pid) + ' on ' + esc(p.hostname) + '</span>',
      esc((p.zones || []).join(', ')),
      control,
      badge(p.alive, p.alive ? 'alive' : 'dead') + ' <span class="muted">last seen ' + esc(fmt(p.at)) + '</span>',
      esc((p.listeners || []).length),
      links,
    ];
  });
  return '<h2>Processes</h2>' + table(['process', 'zones', 'control', 'state', 'listeners', 'replication links'], rows);
}

// every live process's listeners (GET /api/endpoints), tagged with the process that runs them
function endpointsSection(eps) {
  if (!eps) return '';
  var rows = eps.endpoints.map(function (l) {
    return [esc(l.zone || '(cluster)'), esc(l.role), esc(l.protocol), esc(l.host + ':' + l.port),
      '<span class="muted">' + esc(l.process || '') + '</span>'];
  });
  return '<h2>Listeners</h2>' + table(['zone', 'role', 'protocol', 'address', 'process'], rows);
}

function fmt(v) {
  if (typeof v === 'number') {
    if (v > 1e12 && v < 1e14) return new Date(v).toLocaleTimeString(); // wall-clock ms
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

function isScalar(v) {
  return v == null || typeof v !== 'object';
}

/** Scalar leaves of an object, one level of nesting flattened ("lease.valid"). */
function leaves(o) {
  var out = {};
  Object.keys(o).forEach(function (k) {
    var v = o[k];
    if (isScalar(v)) out[k] = v;
    else if (!Array.isArray(v)) Object.keys(v).forEach(function (k2) { if (isScalar(v[k2])) out[k + '.' + k2] = v[k2]; });
  });
  return out;
}

function objectTable(rows, keyName) {
  var cols = [];
  rows.forEach(function (r) { Object.keys(r[1]).forEach(function (c) { if (cols.indexOf(c) < 0) cols.push(c); }); });
  return table((keyName ? [keyName] : []).concat(cols), rows.map(function (r) {
    return (keyName ? ['<b>' + esc(r[0]) + '</b>'] : []).concat(cols.map(function (c) { return r[1][c] === undefined ? '' : esc(fmt(r[1][c])); }));
  }));
}

/**
 * A status API of a shape this page doesn't know in detail (shard map, replication):
 * scalars as a line, maps of objects and lists of objects as tables, then the raw JSON.
 */
function genericSection(title, data) {
  if (!data) return '';
  var line = [];
  var parts = [];
  Object.keys(data).forEach(function (k) {
    var v = data[k];
    if (isScalar(v)) line.push(esc(k) + ' <b>' + esc(fmt(v)) + '</b>');
    else if (Array.isArray(v)) {
      if (v.length && v.every(function (x) { return x && typeof x === 'object' && !Array.isArray(x); }))
        parts.push('<h3>' + esc(k) + '</h3>' + objectTable(v.slice(0, 50).map(function (x) { return [null, leaves(x)]; })));
      else if (v.every(isScalar)) line.push(esc(k) + ' <b>' + (v.length ? esc(v.slice(0, 30).map(fmt).join(', ')) : '&ndash;') + '</b>');
      else line.push(esc(k) + ' <b>' + esc(v.length) + ' items</b>');
    } else {
      var ks = Object.keys(v);
      if (ks.length && ks.every(function (x) { return v[x] && typeof v[x] === 'object' && !Array.isArray(v[x]); }))
        parts.push('<h3>' + esc(k) + '</h3>' + objectTable(ks.map(function (x) { return [x, leaves(v[x])]; }), 'name'));
      else line.push(esc(k) + ' <b>' + esc(ks.map(function (x) { return x + '=' + (isScalar(v[x]) ? fmt(v[x]) : '…'); }).join(' ')) + '</b>');
    }
  });
  var json = JSON.stringify(data, null, 1);
  if (json.length > 4000) json = json.slice(0, 4000) + '\n…';
  return '<h2>' + esc(title) + '</h2><p>' + line.join(' &middot; ') + '</p>' + parts.join('') +
    '<details><summary>raw</summary><pre>' + esc(json) + '</pre></details>';
}

// each local zone's anycast prefixes (announced, prepended, withdrawn and why) and its BGP sessions
function anycastSection(a) {
  if (!a || !a.enabled) return '';
  var rows = [];
  (a.zones || []).forEach(function (z) {
    var sessions = (z.sessions || []).map(function (s) {
      return badge(s.established, s.established ? 'up' : s.info || s.state) + ' ' + esc(s.neighbor || s.name) +
        (s.bfd ? ' ' + badge(s.bfd === 'Up', 'BFD ' + s.bfd) : '');
    }).join('<br>') || '<span class="muted">none yet</span>';
    (z.prefixes || []).forEach(function (p) {
      var act = p.action === 'announce' ? badge(true, 'announced') : p.action === 'prepend' ? badge(null, 'prepended') : badge(false, 'withdrawn');
      rows.push([
        '<b>' + esc(z.zone) + '</b>' + (z.drained ? ' <span class="muted">drained</span>' : ''),
        esc(p.prefix) + ' <span class="muted">' + esc(p.name) + ' &middot; ' + esc(p.role) + '</span>',
        act + ' <span class="muted">' + esc(p.reason) + (p.riseLeftMs ? ' ' + esc(fmt(p.riseLeftMs / 1000)) + ' s left' : '') + '</span>',
        sessions,
        z.error ? '<span class="down">' + esc(z.error.code) + '</span>' : '',
      ]);
    });
  });
  return '<h2>Anycast</h2>' + table(['zone', 'prefix', 'state', 'BGP sessions', 'error'], rows);
}

function render(d) {
  if (!d.topology) return '<p class="down">cannot read /api/topology</p>';
  var t = d.topology;
  return '<h1>' + esc(t.name) + ' <span class="muted">' + esc(t.apex) + ' &middot; core zone ' + esc(t.coreZone) + '</span></h1>' +
    zonesSection(t, d.health, d.load) + healthSection(d.health) + anycastSection(d.anycast) + processesSection(d.cluster) + endpointsSection(d.endpoints) +
    genericSection('Shard map', d.shardmap) + genericSection('Replication', d.replication);
}

function fetchAll() {
  return Promise.all(APIS.map(function (api) {
    var name = api[0];
    return fetch(api[1], { cache: 'no-store' }).then(function (r) {
      return r.status === 404 ? null : r.ok ? r.json() : Promise.reject(new Error(name + ': ' + r.status));
    }).catch(function (e) { return { __error: String(e && e.message || e) }; });
  })).then(function (vals) {
    var d = { errors: [] };
    APIS.forEach(function (api, i) {
      var v = vals[i];
      if (v && v.__error) { d.errors.push(v.__error); d[api[0]] = null; } else d[api[0]] = v;
    });
    return d;
  });
}

function boot() {
  var main = document.getElementById('main');
  var status = document.getElementById('status');
  function tick() {
    fetchAll().then(function (d) {
      main.innerHTML = render(d);
      var now = new Date(); // lint-allow: browser code, shows the viewer's local time
      status.textContent = 'updated ' + now.toLocaleTimeString() + (d.errors.length ? ' · errors: ' + d.errors.join('; ') : '');
    });
  }
  tick();
  setInterval(tick, 2000); // lint-allow: browser code, the page's own poll timer
}

if (typeof document !== 'undefined') boot();
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; } h3 { font-size: 1em; }
table { border-collapse: collapse; background: #fff; } th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } .muted { color: #888; font-weight: normal; }
.b { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 0.85em; color: #fff; }
.up { background: #2e7d32; } .down { background: #c62828; } .unknown { background: #9e9e9e; } .core { background: #1565c0; }
pre { background: #fff; border: 1px solid #ddd; padding: 6px; max-height: 20em; overflow: auto; }
#status { color: #888; font-size: 0.85em; }
`;

/** The whole page: no external assets, so it works offline and behind any proxy. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>multizone dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<div id="status">loading…</div>
<div id="main"><noscript>This page needs JavaScript; the data is at <a href="/api">/api</a>.</noscript></div>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;

/** Serves the classic dashboard at `GET /classic` on the control API (the console has `GET /`). */
export function registerDashboard(control: ControlApi): void {
  const body = Buffer.from(DASHBOARD_HTML);
  control.route('GET', '/classic', (_req, _url, res) => {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-cache',
    });
    res.end(body);
  });
}
