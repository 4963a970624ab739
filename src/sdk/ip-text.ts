/** Address checks without node:net, so the browser build can use them. */
export function isIPv4Text(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return !!m && m.slice(1).every((p) => Number(p) <= 255 && (p === '0' || !p.startsWith('0')));
}

export function isIPv6Text(s: string): boolean {
  if (s.length < 2 || s.length > 45 || !s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const parts = s.split('::');
  if (parts.length > 2) return false;
  const groups = parts.flatMap((p) => (p === '' ? [] : p.split(':')));
  const last = groups[groups.length - 1] ?? '';
  const v4 = last.includes('.');
  if (v4 && !isIPv4Text(last)) return false;
  const hex = v4 ? groups.slice(0, -1) : groups;
  if (!hex.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  const n = hex.length + (v4 ? 2 : 0);
  return parts.length === 2 ? n < 8 : n === 8;
}

export function ipFamily(s: string): 4 | 6 | 0 {
  return isIPv4Text(s) ? 4 : isIPv6Text(s) ? 6 : 0;
}
