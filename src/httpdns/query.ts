/**
 * A request's query parameters, read on demand with URLSearchParams' rules: pairs split on
 * `&`, empty pairs skipped, the key up to the first `=`, the first pair of a name wins. A query
 * with no `%` or `+` needs no decoding, so get() scans the raw text and allocates only the value;
 * any other query is handed to URLSearchParams whole (percent-decoding, `+` as space,
 * malformed escapes kept as written). URLSearchParams itself splits and decodes every pair up
 * front, a measurable part of a /d request.
 */
export class QueryParams {
  private parsed: URLSearchParams | undefined;
  private readonly plain: boolean;

  constructor(private readonly query: string) {
    this.plain = query.indexOf('%') < 0 && query.indexOf('+') < 0;
  }

  get(name: string): string | null {
    if (!this.plain) {
      this.parsed ??= new URLSearchParams(this.query);
      return this.parsed.get(name);
    }
    const q = this.query;
    const n = name.length;
    let i = 0;
    while (i < q.length) {
      let end = q.indexOf('&', i);
      if (end < 0) end = q.length;
      if (end > i && q.startsWith(name, i) && (i + n === end || q.charCodeAt(i + n) === 61) /* = */)
        return i + n === end ? '' : q.slice(i + n + 1, end);
      i = end + 1;
    }
    return null;
  }
}
