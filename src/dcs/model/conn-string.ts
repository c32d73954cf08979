/**
 * The legacy (Governor) member value: a connection URL with the member's REST API URL in the
 * `application_name` query parameter, e.g.
 * `postgres://u:p@10.0.0.3:5432/postgres?application_name=http://10.0.0.3:8008/patroni`.
 *
 * `parseConnectionString` splits it the way Python's `urlparse` / `urlunparse` / `parse_qsl` do in
 * Patroni's `parse_connection_string`: `conn_url` is the URL without its query (scheme lowercased,
 * fragment kept, tab/CR/LF removed), `apiUrl` the percent-decoded first non-empty
 * `application_name` value or null. Python raises on malformed IPv6 brackets (failing the whole
 * cluster load); we never fail here.
 *
 * Pure: no I/O, no network.
 */

const SCHEME_CHARS = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
/** Python's `urllib.parse.uses_netloc`: schemes for which `urlunsplit` re-adds an empty `//`. */
const USES_NETLOC = new Set([
  '',
  'ftp',
  'http',
  'gopher',
  'nntp',
  'telnet',
  'imap',
  'wais',
  'file',
  'mms',
  'https',
  'shttp',
  'snews',
  'prospero',
  'rtsp',
  'rtspu',
  'rsync',
  'svn',
  'svn+ssh',
  'sftp',
  'nfs',
  'git',
  'git+ssh',
  'ws',
  'wss',
]);

/** Python's `urllib.parse.unquote` (UTF-8, invalid sequences → U+FFFD). */
export function pyUnquote(s: string): string {
  if (!s.includes('%')) return s;
  const decoder = new TextDecoder('utf-8');
  return s.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    return decoder.decode(bytes);
  });
}

/** Python's `parse_qsl(query)` with default arguments (blank values dropped, `+` is a space). */
export function pyParseQsl(query: string): [string, string][] {
  const out: [string, string][] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const value = part.slice(eq + 1);
    if (value.length === 0) continue;
    out.push([pyUnquote(part.slice(0, eq).replace(/\+/g, ' ')), pyUnquote(value.replace(/\+/g, ' '))]);
  }
  return out;
}

export function parseConnectionString(value: string): { connUrl: string; apiUrl: string | null } {
  let url = value.replace(/[\t\r\n]/g, '');
  let scheme = '';
  const colon = url.indexOf(':');
  if (colon > 0 && SCHEME_CHARS.test(url.slice(0, colon))) {
    scheme = url.slice(0, colon).toLowerCase();
    url = url.slice(colon + 1);
  }
  let netloc = '';
  if (url.startsWith('//')) {
    let end = url.length;
    for (const c of '/?#') {
      const i = url.indexOf(c, 2);
      if (i >= 0 && i < end) end = i;
    }
    netloc = url.slice(2, end);
    url = url.slice(end);
  }
  let fragment = '';
  const hash = url.indexOf('#');
  if (hash >= 0) {
    fragment = url.slice(hash + 1);
    url = url.slice(0, hash);
  }
  let query = '';
  const q = url.indexOf('?');
  if (q >= 0) {
    query = url.slice(q + 1);
    url = url.slice(0, q);
  }
  // urlunsplit((scheme, netloc, path, '', fragment))
  let out = url;
  if (netloc || (scheme && USES_NETLOC.has(scheme) && !out.startsWith('//'))) {
    if (out && !out.startsWith('/')) out = `/${out}`;
    out = `//${netloc}${out}`;
  }
  if (scheme) out = `${scheme}:${out}`;
  if (fragment) out = `${out}#${fragment}`;
  const api = pyParseQsl(query).find(([k]) => k === 'application_name');
  return { connUrl: out, apiUrl: api ? api[1] : null };
}
