/**
 * RFC 8941 structured-field Dictionary parsing, the subset CDN-Cache-Control (RFC 9213) needs:
 * members are `key` (true), `key=Integer`, `key=Decimal`, `key="String"`, `key=Token`,
 * `key=:Bytes:`, `key=?1`/`?0` or an Inner List, each with optional parameters (parsed, then
 * dropped). Pure: text in, a map or undefined out. Any syntax error fails the whole field.
 */

/** A bare item's value; inner lists and byte sequences are kept as opaque markers. */
export type SfItem = number | string | boolean | { token: string } | { bytes: string } | { list: SfItem[] };

const KEY_START = /[a-z*]/;
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TOKEN_START = /[A-Za-z*]/;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64 = /[A-Za-z0-9+/=]/;

class Fail extends Error {}

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  sp(): void {
    while (this.s[this.i] === ' ') this.i++;
  }

  ows(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }

  key(): string {
    const c = this.s[this.i];
    if (c === undefined || !KEY_START.test(c)) throw new Fail();
    const start = this.i++;
    while (this.i < this.s.length && KEY_CHAR.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  bare(): SfItem {
    const c = this.s[this.i];
    if (c === undefined) throw new Fail();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === '"') return this.string();
    if (c === ':') return this.bytes();
    if (c === '?') {
      const b = this.s[this.i + 1];
      if (b !== '0' && b !== '1') throw new Fail();
      this.i += 2;
      return b === '1';
    }
    if (TOKEN_START.test(c)) {
      const start = this.i++;
      while (this.i < this.s.length && TOKEN_CHAR.test(this.s[this.i]!)) this.i++;
      return { token: this.s.slice(start, this.i) };
    }
    throw new Fail();
  }

  number(): number {
    const m = /^-?(\d{1,15})(\.(\d{1,3}))?/.exec(this.s.slice(this.i));
    if (!m) throw new Fail();
    // RFC 8941 §3.3.1/§3.3.2: at most 15 integer digits, or 12 before and 3 after a dot
    if (m[2] !== undefined && m[1]!.length > 12) throw new Fail();
    const next = this.s[this.i + m[0].length];
    if (next === '.' || (next !== undefined && next >= '0' && next <= '9')) throw new Fail();
    this.i += m[0].length;
    return Number(m[0]);
  }

  string(): string {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.s[this.i++];
      if (c === undefined) throw new Fail();
      if (c === '"') return out;
      if (c === '\\') {
        const e = this.s[this.i++];
        if (e !== '"' && e !== '\\') throw new Fail();
        out += e;
        continue;
      }
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) throw new Fail();
      out += c;
    }
  }

  bytes(): { bytes: string } {
    const start = ++this.i;
    while (this.i < this.s.length && BASE64.test(this.s[this.i]!)) this.i++;
    if (this.s[this.i] !== ':') throw new Fail();
    return { bytes: this.s.slice(start, this.i++) };
  }

  params(): void {
    while (this.s[this.i] === ';') {
      this.i++;
      this.sp();
      this.key();
      if (this.s[this.i] === '=') {
        this.i++;
        this.bare();
      }
    }
  }

  innerList(): { list: SfItem[] } {
    this.i++;
    const list: SfItem[] = [];
    for (;;) {
      this.sp();
      if (this.s[this.i] === ')') {
        this.i++;
        this.params();
        return { list };
      }
      list.push(this.bare());
      this.params();
      const c = this.s[this.i];
      if (c !== ' ' && c !== ')') throw new Fail();
    }
  }
}

/**
 * Parses a Dictionary field (several field lines joined by ", "). Returns undefined when the
 * value is not a valid Dictionary: RFC 8941 §4.2 says the whole field is then ignored.
 */
export function parseSfDictionary(value: string | readonly string[]): Map<string, SfItem> | undefined {
  const text = typeof value === 'string' ? value : value.join(', ');
  const p = new Parser(text);
  const out = new Map<string, SfItem>();
  try {
    p.sp();
    if (p.i >= text.length) return out;
    for (;;) {
      const k = p.key();
      let v: SfItem = true;
      if (text[p.i] === '=') {
        p.i++;
        v = text[p.i] === '(' ? p.innerList() : p.bare();
      }
      p.params();
      out.set(k, v); // a repeated key: the last one wins (RFC 8941 §4.2.2)
      p.ows();
      if (p.i >= text.length) return out;
      if (text[p.i] !== ',') return undefined;
      p.i++;
      p.ows();
      if (p.i >= text.length) return undefined; // trailing comma
    }
  } catch (e) {
    if (e instanceof Fail) return undefined;
    throw e;
  }
}
