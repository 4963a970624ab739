#!/usr/bin/env node
// House rules Biome cannot express (STYLE.md §1, §3). `node scripts/lint-rules.mjs [DIR]` lints DIR/src/**/*.ts
// (DIR defaults to the current directory, the repo root) and prints `path:line: rule: message`
// per problem, then a summary; it exits 1 on any problem.
//
//  banned-call     no Date.now / new Date() / Math.random / setTimeout / setInterval in non-test src
//                  files outside core/clock.ts and core/random.ts: time and randomness are injected
//                  (Clock, Random) so tests and drills can drive them. `lint-allow` on the line exempts.
//  index-only      a capability (a folder under src/) imports another capability only through its
//                  index.ts, its public face; internals stay free to move. core has no index.ts and is
//                  imported module by module.
//  outside-src     src/ never imports a relative path that leaves src/ (test/, bench/, examples/...):
//                  the package ships src/ alone.
//  layer           capabilities import their own layer or a lower one, never a higher one (LAYERS
//                  below); a folder missing from LAYERS is itself a problem. Top-level files in src/
//                  (the package entry, src/index.ts) may import anything; folders never import them.
//  folder-cycle    no import cycles between capabilities, core and topology included: the layers
//                  only mean something if capabilities form a DAG.
//  file-cycle      no import cycles between files, type-only imports included (they still couple).
//  error-literal   a declared error code (a key of defineErrors({...}) in any src/**/errors.ts) is never
//                  written as a string literal outside the errors.ts files: refer to it through its
//                  definition (`storeErrors.ERR_STORE_UNAVAILABLE.code`, `hasCode(e, ctor)`).
//  header-literal  the routing headers (`x-multizone-...`, any case) are spelled only in
//                  src/shardmap/headers.ts (HEADERS, HEADER_PREFIX), so a rename is one edit.
// Test files (*.test.ts) are exempt from every rule: they may reach internals and test/support, and
// they spell codes and headers as the contract they check.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** Low to high; a folder may import folders of its own layer or a lower one. */
const LAYERS = [
  ['core'],
  ['geo', 'topology'],
  ['shardmap', 'control', 'trust'],
  ['steering', 'store', 'session', 'edge', 'health', 'sdk', 'anycast'],
  ['dns', 'httpdns', 'router', 'replication', 'failover'],
  ['drill'],
  ['runtime', 'lab'],
  ['cli'],
];
const RANK = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i])));
const TIME_FILES = new Set(['core/clock.ts', 'core/random.ts']);
const HEADERS_FILE = 'shardmap/headers.ts';
const HEADER_MARK = 'x-multizone-';
const CODE_RE = /^ERR_[A-Z0-9]+_[A-Z0-9_]+$/;

// ---------------------------------------------------------------------------------------------
// Loading: every .ts file under DIR/src, parsed once.

/**
 * @typedef {{ spec: string, line: number, target: string | null }} Import  target: src-relative path, or
 *   null when the specifier is not relative; a target that leaves src/ starts with '..'.
 * @typedef {{ abs: string, rel: string, folder: string | null, isTest: boolean, sf: ts.SourceFile,
 *   imports: Import[] }} SourceFile  rel: relative to src/ with '/'; folder: null for a top-level file.
 */

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const toPosix = (p) => p.split(sep).join('/');

/** A relative specifier as the file it names: x.ts, x.js -> x.ts, x -> x.ts or x/index.ts. */
function resolveSpec(srcRoot, fromAbs, spec) {
  const base = resolve(dirname(fromAbs), spec);
  const candidates = [base, base.replace(/\.(m?js)$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  const hit = candidates.find((c) => c.endsWith('.ts') && existsSync(c) && statSync(c).isFile());
  return toPosix(relative(srcRoot, hit ?? base));
}

/** Module specifiers of every import form: import/export ... from, side-effect import, import(), import type, require. */
function findImports(sf) {
  const found = [];
  const add = (lit) => {
    if (lit && (ts.isStringLiteral(lit) || ts.isNoSubstitutionTemplateLiteral(lit))) found.push(lit);
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
      add(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if (isImport || isRequire) add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function lineOf(sf, node) {
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

function load(root) {
  const srcRoot = resolve(root, 'src');
  if (!existsSync(srcRoot)) {
    console.error(`lint-rules: no src/ under ${resolve(root)}`);
    process.exit(2);
  }
  return walk(srcRoot, []).map((abs) => {
    const rel = toPosix(relative(srcRoot, abs));
    const sf = ts.createSourceFile(abs, readFileSync(abs, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const imports = findImports(sf).map((lit) => ({
      spec: lit.text,
      line: lineOf(sf, lit),
      target: lit.text.startsWith('.') ? resolveSpec(srcRoot, abs, lit.text) : null,
    }));
    const parts = rel.split('/');
    return { abs, rel, folder: parts.length > 1 ? parts[0] : null, isTest: rel.endsWith('.test.ts'), sf, imports };
  });
}

/** Calls fn(node) for every node of the file. */
function eachNode(sf, fn) {
  const visit = (node) => {
    fn(node);
    ts.forEachChild(node, visit);
  };
  visit(sf);
}

/** String literals, no-substitution templates and the literal parts of templates; comments are not nodes. */
function eachStringLiteral(sf, fn) {
  eachNode(sf, (node) => {
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    )
      fn(node, node.text);
  });
}

const folderOf = (target) => (target.includes('/') ? target.split('/')[0] : null);

// ---------------------------------------------------------------------------------------------
// Rules. Each takes the loaded files and a report(file, line, message) for its rule.

/** banned-call: time and randomness come from the injected Clock and Random. */
function bannedCall(files, report) {
  const TIMERS = new Set(['setTimeout', 'setInterval']);
  const GLOBALS = new Set(['globalThis', 'global', 'window']);
  // An identifier that names a value in an expression (not a declaration, property name, import or type).
  const isValueUse = (id) => {
    const p = id.parent;
    if (ts.isPropertyAccessExpression(p)) return p.expression === id;
    if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p) || ts.isImportClause(p) || ts.isNamespaceImport(p))
      return false;
    if (ts.isTypeQueryNode(p) || ts.isQualifiedName(p) || ts.isTypeReferenceNode(p)) return false;
    if ('name' in p && p.name === id && !ts.isShorthandPropertyAssignment(p)) return false;
    if (ts.isBindingElement(p) && p.propertyName === id) return false;
    return true;
  };
  for (const f of files) {
    if (f.isTest || TIME_FILES.has(f.rel)) continue;
    const lines = f.sf.text.split('\n');
    const flag = (node, what, use) => {
      const line = lineOf(f.sf, node);
      if (!lines[line - 1]?.includes('lint-allow')) report(f, line, `${what}: ${use}`);
    };
    eachNode(f.sf, (node) => {
      if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
        const obj = node.expression.text;
        const prop = node.name.text;
        if (obj === 'Date' && prop === 'now') flag(node, 'Date.now', 'take the time from the injected Clock');
        else if (obj === 'Math' && prop === 'random') flag(node, 'Math.random', 'use the injected Random');
        else if (GLOBALS.has(obj) && TIMERS.has(prop)) flag(node, `${obj}.${prop}`, 'use the injected Clock');
      } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'Date') {
        if (!node.arguments?.length) flag(node, 'new Date()', 'take the time from the injected Clock');
      } else if (ts.isIdentifier(node) && TIMERS.has(node.text) && isValueUse(node)) {
        flag(node, node.text, 'use the injected Clock');
      }
    });
  }
}

/** index-only: capabilities talk to each other through index.ts, never through internals. */
function indexOnly(files, report) {
  for (const f of files) {
    if (f.isTest || !f.folder) continue;
    for (const imp of f.imports) {
      if (!imp.target || imp.target.startsWith('..')) continue;
      const to = folderOf(imp.target);
      if (!to || to === f.folder || to === 'core') continue;
      if (imp.target !== `${to}/index.ts`)
        report(f, imp.line, `imports ${imp.target}, an internal of ${to}; import ${to}/index.ts instead`);
    }
  }
}

/** outside-src: the package is src/; nothing in it reaches into test/, bench/, examples/ or elsewhere. */
function outsideSrc(files, report) {
  for (const f of files) {
    if (f.isTest) continue;
    for (const imp of f.imports)
      if (imp.target?.startsWith('..')) report(f, imp.line, `imports '${imp.spec}', which is outside src/`);
  }
}

/** layer: lower layers never know about higher ones (LAYERS). */
function layer(files, report) {
  const unknown = new Set();
  for (const f of files) {
    if (!f.folder || RANK.has(f.folder) || unknown.has(f.folder)) continue;
    unknown.add(f.folder);
    report(f, 1, `unknown folder ${f.folder}: add it to the layer order`);
  }
  for (const f of files) {
    if (f.isTest || !f.folder || !RANK.has(f.folder)) continue;
    for (const imp of f.imports) {
      if (!imp.target || imp.target.startsWith('..')) continue;
      const to = folderOf(imp.target);
      if (!to) report(f, imp.line, `imports src/${imp.target}; a folder never imports a top-level file of src/`);
      else if (!RANK.has(to) && !unknown.has(to)) {
        unknown.add(to);
        report(f, imp.line, `imports unknown folder ${to}: add it to the layer order`);
      } else if (RANK.has(to) && RANK.get(to) > RANK.get(f.folder))
        report(
          f,
          imp.line,
          `${f.folder} (layer ${RANK.get(f.folder)}) imports ${to} (layer ${RANK.get(to)}), a higher layer`,
        );
    }
  }
}

/** Strongly connected components (Tarjan) of a graph Map<node, Iterable<node>>, each sorted. */
function sccs(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const strong = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strong(v);
  return out;
}

/** One cycle through `start` inside `members` (BFS back to start): [start, ..., start]. */
function cycleThrough(graph, members, start) {
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (members.has(w) && !prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

/** Components that are cycles: more than one node, or one node importing itself. */
function cycles(graph) {
  return sccs(graph).filter((c) => c.length > 1 || graph.get(c[0])?.has(c[0]));
}

/** folder-cycle: capabilities form a DAG, so each can be understood (and tested) above its dependencies. */
function folderCycle(files, report) {
  const graph = new Map();
  const where = new Map(); // 'a>b' -> the first import making a depend on b
  for (const f of files) {
    if (f.isTest || !f.folder) continue;
    if (!graph.has(f.folder)) graph.set(f.folder, new Set());
    for (const imp of f.imports) {
      const to = imp.target && !imp.target.startsWith('..') ? folderOf(imp.target) : null;
      if (!to || to === f.folder) continue;
      graph.get(f.folder).add(to);
      if (!where.has(`${f.folder}>${to}`)) where.set(`${f.folder}>${to}`, { f, line: imp.line });
    }
  }
  for (const comp of cycles(graph)) {
    const path = cycleThrough(graph, new Set(comp), comp[0]);
    const steps = path.slice(1).map((to, i) => {
      const w = where.get(`${path[i]}>${to}`);
      return `${to} (${w.f.rel}:${w.line})`;
    });
    const first = where.get(`${path[0]}>${path[1]}`);
    const rest = comp.length > path.length - 1 ? `; all of ${comp.join(', ')} are in the cycle` : '';
    report(first.f, first.line, `import cycle between folders: ${path[0]} -> ${steps.join(' -> ')}${rest}`);
  }
}

/** file-cycle: no file depends on itself through others; cycles make load order and refactors fragile. */
function fileCycle(files, report) {
  const byRel = new Map(files.filter((f) => !f.isTest).map((f) => [f.rel, f]));
  const graph = new Map();
  for (const f of byRel.values())
    graph.set(f.rel, new Set(f.imports.map((i) => i.target).filter((t) => t && byRel.has(t))));
  for (const comp of cycles(graph)) {
    const path = cycleThrough(graph, new Set(comp), comp[0]);
    const first = byRel.get(comp[0]);
    const line = first.imports.find((i) => i.target === path[1])?.line ?? 1;
    const all = comp.length > path.length - 1 ? `; ${comp.length} files in the cycle: ${comp.join(', ')}` : '';
    report(first, line, `import cycle: ${path.join(' -> ')}${all}`);
  }
}

const isErrorsFile = (f) => f.rel === 'errors.ts' || f.rel.endsWith('/errors.ts');

/** The codes declared by defineErrors({...}) in src/**\/errors.ts. */
function declaredCodes(files) {
  const codes = new Set();
  for (const f of files) {
    if (!isErrorsFile(f)) continue;
    eachNode(f.sf, (node) => {
      if (!ts.isCallExpression(node)) return;
      const callee = ts.isPropertyAccessExpression(node.expression) ? node.expression.name : node.expression;
      const arg = node.arguments[0];
      if (!ts.isIdentifier(callee) || callee.text !== 'defineErrors' || !arg || !ts.isObjectLiteralExpression(arg))
        return;
      for (const p of arg.properties) {
        const name = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : null;
        if (name && CODE_RE.test(name)) codes.add(name);
      }
    });
  }
  return codes;
}

/** error-literal: a code has one spelling, its definition; a typo in a literal would fail silently. */
function errorLiteral(files, report) {
  const codes = declaredCodes(files);
  for (const f of files) {
    if (f.isTest || isErrorsFile(f)) continue;
    eachStringLiteral(f.sf, (node, text) => {
      if (codes.has(text))
        report(
          f,
          lineOf(f.sf, node),
          `'${text}' written as a literal; use its definition (xxxErrors.${text}.code, hasCode)`,
        );
    });
  }
}

/** header-literal: the routing headers are spelled once, in shardmap/headers.ts. */
function headerLiteral(files, report) {
  for (const f of files) {
    if (f.isTest || f.rel === HEADERS_FILE) continue;
    eachStringLiteral(f.sf, (node, text) => {
      if (text.toLowerCase().includes(HEADER_MARK))
        report(
          f,
          lineOf(f.sf, node),
          `'${text}' spells a routing header; use HEADERS / HEADER_PREFIX from shardmap/headers.ts`,
        );
    });
  }
}

// ---------------------------------------------------------------------------------------------

const RULES = {
  'banned-call': bannedCall,
  'index-only': indexOnly,
  'outside-src': outsideSrc,
  layer,
  'folder-cycle': folderCycle,
  'file-cycle': fileCycle,
  'error-literal': errorLiteral,
  'header-literal': headerLiteral,
};

const root = process.argv[2] ?? '.';
const files = load(root);
const problems = [];
for (const [rule, check] of Object.entries(RULES))
  check(files, (f, line, message) =>
    problems.push({ path: toPosix(relative(process.cwd(), f.abs)), line, rule, message }),
  );

problems.sort((a, b) => a.path.localeCompare(b.path) || a.line - b.line || a.rule.localeCompare(b.rule));
for (const p of problems) console.error(`${p.path}:${p.line}: ${p.rule}: ${p.message}`);
if (problems.length) {
  const counts = Object.keys(RULES)
    .map((r) => [r, problems.filter((p) => p.rule === r).length])
    .filter(([, n]) => n > 0)
    .map(([r, n]) => `${r} ${n}`);
  console.error(`lint-rules: ${problems.length} problem(s) (${counts.join(', ')}) in ${files.length} files checked`);
  process.exit(1);
}
console.log(`lint-rules: ${files.length} files ok`);
