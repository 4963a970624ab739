import { readFileSync } from 'node:fs';
import { type Document, isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { coreErrors, type PlatformError } from './errors.ts';

/** How many lines with YAML syntax errors are reported (the rest are counted). */
const MAX_SYNTAX_PROBLEMS = 5;

/** One thing wrong with a config file, located precisely. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  /** Dotted YAML path, e.g. `zones.sh-a.region`. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

const LATIN1 = /^[\u0000-\u00ff]*$/;

/**
 * The same data with every Latin-1-only string (keys too) as a one-byte string. One wider
 * character anywhere in a YAML file (a Chinese comment, an ellipsis) makes every string
 * parsed from it a two-byte slice of the text, and each later serialization of those
 * strings (HTTP headers, JSON answers, DNS names) then pays a UTF-16 → UTF-8 conversion:
 * HTTPDNS answered 40 % fewer requests per second for it.
 */
export function oneByteStrings<T>(v: T): T {
  if (typeof v === 'string') return (LATIN1.test(v) ? Buffer.from(v, 'latin1').toString('latin1') : v) as T;
  if (Array.isArray(v)) return v.map((x) => oneByteStrings(x)) as T;
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[oneByteStrings(k)] = oneByteStrings(x);
    return out as T;
  }
  return v;
}

/** A parsed YAML document that can say where any path is. */
export class YamlSource {
  readonly doc: Document.Parsed;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    // merge keys (`<<: *app`): one zone's block reused by the others with a field changed
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true, merge: true });
  }

  /** Line and column (1-based) of the deepest existing node on path. */
  locate(path: readonly (string | number)[]): { line: number; column: number } {
    let node: unknown = this.doc.contents;
    let offset = 0;
    const rangeOf = (n: unknown) => (n as { range?: [number, number, number] } | undefined)?.range;
    offset = rangeOf(node)?.[0] ?? 0;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === String(key));
        if (!pair) break;
        offset = rangeOf(pair.key)?.[0] ?? offset;
        node = pair.value;
        const r = rangeOf(node);
        if (r) offset = r[0];
      } else if (isSeq(node) && typeof key === 'number' && node.items[key] !== undefined) {
        node = node.items[key];
        offset = rangeOf(node)?.[0] ?? offset;
      } else break;
    }
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  problem(
    path: readonly (string | number)[],
    message: string,
    severity: ConfigProblem['severity'] = 'error',
  ): ConfigProblem {
    return { file: this.file, ...this.locate(path), path: formatPath(path), message, severity };
  }

  /**
   * YAML syntax errors (bad indentation, duplicate keys, tabs) as problems: the first of each
   * line, and no more than MAX_SYNTAX_PROBLEMS lines — one bad token makes the parser report
   * every token after it on its line, and often every line after it.
   */
  syntaxProblems(): ConfigProblem[] {
    const out: ConfigProblem[] = [];
    const lines = new Set<number>();
    for (const e of this.doc.errors) {
      const p = this.lines.linePos(e.pos[0]);
      if (lines.has(p.line)) continue;
      lines.add(p.line);
      if (out.length === MAX_SYNTAX_PROBLEMS) {
        const more = new Set(this.doc.errors.map((x) => this.lines.linePos(x.pos[0]).line)).size - out.length;
        out.push({
          file: this.file,
          line: p.line,
          column: p.col,
          path: '',
          message: `YAML syntax: and ${more} more line${more === 1 ? '' : 's'} after these; fix the first one and check again`,
          severity: 'error',
        });
        break;
      }
      out.push({
        file: this.file,
        line: p.line,
        column: p.col,
        path: '',
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
        severity: 'error',
      });
    }
    return out;
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.map((k) => String(k)).join('.') || '(root)';
}

/** `file:line:col  path: message` — the one format every config error is printed in. */
export function formatProblem(p: ConfigProblem): string {
  const tag = p.severity === 'warning' ? 'warning: ' : '';
  return `${p.file}:${p.line}:${p.column}  ${tag}${p.path}: ${p.message}`;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** Walks a zod schema along path to find the object shape there (for "valid keys" hints). */
function shapeAt(schema: z.ZodTypeAny, path: readonly (string | number)[]): string[] | undefined {
  let s: z.ZodTypeAny | undefined = schema;
  const unwrap = (x: z.ZodTypeAny): z.ZodTypeAny => {
    for (;;) {
      if (x instanceof z.ZodEffects) x = x.innerType();
      else if (x instanceof z.ZodOptional || x instanceof z.ZodNullable) x = x.unwrap();
      else if (x instanceof z.ZodDefault) x = x.removeDefault();
      else if (x instanceof z.ZodLazy) x = x.schema;
      else return x;
    }
  };
  for (const k of path) {
    if (!s) return undefined;
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = s.shape[k as string];
    else if (s instanceof z.ZodRecord) s = s.valueSchema;
    else if (s instanceof z.ZodArray) s = s.element;
    else return undefined;
  }
  if (!s) return undefined;
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
}

/** Turns zod issues into located problems that say what was expected and what was found. */
export function zodProblems(
  src: YamlSource,
  schema: z.ZodTypeAny,
  data: unknown,
  issues: z.ZodIssue[],
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path;
    const found = valueAt(data, path);
    let msg: string;
    switch (issue.code) {
      case 'invalid_type':
        msg =
          issue.received === 'undefined'
            ? `required ${issue.expected} is missing`
            : `expected ${issue.expected}, found ${describe(found)}`;
        break;
      case 'invalid_enum_value':
        msg = `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}; found ${describe(found)}`;
        break;
      case 'invalid_literal':
        msg = `expected ${JSON.stringify(issue.expected)}, found ${describe(found)}`;
        break;
      case 'unrecognized_keys': {
        for (const key of issue.keys) {
          const valid = shapeAt(schema, path);
          out.push(
            src.problem([...path, key], `unknown key "${key}"${valid ? ` (valid keys: ${valid.join(', ')})` : ''}`),
          );
        }
        continue;
      }
      case 'too_small':
      case 'too_big':
        msg = `${issue.message.replace(/^(String|Number|Array) must/, 'must')} (found ${describe(found)})`;
        break;
      case 'invalid_union':
        msg = `${issue.message}; found ${describe(found)}`;
        break;
      default:
        msg = `${issue.message}${found !== undefined ? ` (found ${describe(found)})` : ''}`;
    }
    out.push(src.problem(path, msg));
  }
  return out;
}

/** Thrown for any invalid config; details.problems lists every problem found in one pass. */
export function configInvalid(problems: ConfigProblem[]): PlatformError {
  const errors = problems.filter((p) => p.severity === 'error');
  return coreErrors.ERR_CONFIG_INVALID(
    `${errors.length} problem(s) in ${errors[0]?.file ?? 'config'}:\n${errors.map(formatProblem).join('\n')}`,
    { details: { problems } },
  );
}

/** Reads a file as a YamlSource, or throws ERR_CONFIG_READ naming the file. */
export function readYamlSource(file: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw coreErrors.ERR_CONFIG_READ(`cannot read config ${file}: ${(e as Error).message}`, { cause: e });
  }
  return new YamlSource(file, text);
}

/** Freezes an object graph so config cannot change after validation. */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
