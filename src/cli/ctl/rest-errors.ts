/**
 * A failed request to a member's REST API, worded as patronictl (urllib3 1.26) words it, so that an
 * operator sees the text they know:
 *
 *   HTTPConnectionPool(host='10.0.0.1', port=8008): Max retries exceeded with url: /restart
 *     (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))
 *
 * - connection failures (refused, unreachable, name not found, connect time-out, TLS) end in
 *   `Max retries exceeded` for every method (urllib3 retries them; so do we, except time-outs);
 * - a reply that does not come (read time-out) or a connection closed before the reply end in it
 *   only for GET and DELETE; for POST and PATCH urllib3 does not retry and reports the error itself
 *   (`… Read timed out. (read timeout=10)`, `('Connection aborted.', RemoteDisconnected(…))`).
 *
 * urllib3 names its connection object in these texts (`<urllib3.connection.HTTPConnection object
 * at 0x7f…>: `); we leave that out. Errno numbers and texts are Linux's, as Python prints them.
 * Pure: builds messages.
 */

/** What went wrong with one attempt. */
export type RestFailure =
  | { readonly kind: 'connect'; readonly code: string; readonly message: string }
  | { readonly kind: 'connect-timeout'; readonly seconds: number }
  | { readonly kind: 'tls'; readonly message: string }
  | { readonly kind: 'read-timeout'; readonly seconds: number }
  | { readonly kind: 'closed'; readonly code: string | null; readonly message: string }
  | { readonly kind: 'config'; readonly message: string };

/** A request that failed before a reply; `message` is patronictl's wording. */
export class RestRequestError extends Error {
  override readonly name = 'RestRequestError';
  constructor(
    message: string,
    readonly failure: RestFailure,
  ) {
    super(message);
  }
}

/** Linux errno numbers and texts (Python's `[Errno N] text`) for node's error codes. */
const ERRNO: Readonly<Record<string, readonly [number, string]>> = {
  ECONNREFUSED: [111, 'Connection refused'],
  ECONNRESET: [104, 'Connection reset by peer'],
  EHOSTUNREACH: [113, 'No route to host'],
  ENETUNREACH: [101, 'Network is unreachable'],
  EADDRNOTAVAIL: [99, 'Cannot assign requested address'],
  ETIMEDOUT: [110, 'Connection timed out'],
  EPIPE: [32, 'Broken pipe'],
  ENOTFOUND: [-2, 'Name or service not known'],
  EAI_AGAIN: [-3, 'Temporary failure in name resolution'],
  EAI_NONAME: [-2, 'Name or service not known'],
};

function pyRepr(s: string): string {
  return s.includes("'") && !s.includes('"')
    ? `"${s}"`
    : `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function errnoText(code: string, fallback: string): string {
  const e = ERRNO[code];
  return e ? `[Errno ${e[0]}] ${e[1]}` : fallback;
}

/** `HTTPConnectionPool(host='h', port=p)` */
export function poolName(https: boolean, host: string, port: number): string {
  return `${https ? 'HTTPS' : 'HTTP'}ConnectionPool(host=${pyRepr(host)}, port=${port})`;
}

/** The repr of the urllib3 exception behind a failure. */
function causeRepr(pool: string, host: string, f: RestFailure): string {
  switch (f.kind) {
    case 'connect':
      return `NewConnectionError(${pyRepr(`Failed to establish a new connection: ${errnoText(f.code, f.message)}`)})`;
    case 'connect-timeout':
      return `ConnectTimeoutError(${pyRepr(`Connection to ${host} timed out. (connect timeout=${f.seconds})`)})`;
    case 'tls':
      return `SSLError(${pyRepr(f.message)})`;
    case 'read-timeout':
      return `ReadTimeoutError(${pyRepr(`${pool}: Read timed out. (read timeout=${f.seconds})`)})`;
    case 'closed':
      return `ProtocolError('Connection aborted.', ${closedRepr(f)})`;
    case 'config':
      return pyRepr(f.message);
  }
}

function closedRepr(f: { readonly code: string | null; readonly message: string }): string {
  if (f.code === 'ECONNRESET') return "ConnectionResetError(104, 'Connection reset by peer')";
  if (f.code === 'EPIPE') return "BrokenPipeError(32, 'Broken pipe')";
  return "RemoteDisconnected('Remote end closed connection without response')";
}

/** Whether urllib3 would retry this failure for this method (and so report `Max retries exceeded`). */
function retried(method: string, f: RestFailure): boolean {
  if (f.kind === 'read-timeout' || f.kind === 'closed') return method === 'GET' || method === 'DELETE';
  return true;
}

/** patronictl's text for a request that failed with `f`. */
export function failureMessage(
  o: { readonly https: boolean; readonly host: string; readonly port: number; readonly path: string },
  method: string,
  f: RestFailure,
): string {
  const pool = poolName(o.https, o.host, o.port);
  if (f.kind === 'config') return f.message;
  if (!retried(method, f)) {
    if (f.kind === 'read-timeout') return `${pool}: Read timed out. (read timeout=${f.seconds})`;
    if (f.kind === 'closed') return `('Connection aborted.', ${closedRepr(f)})`;
  }
  return `${pool}: Max retries exceeded with url: ${o.path} (Caused by ${causeRepr(pool, o.host, f)})`;
}

/**
 * urllib3's warning before another attempt (`remaining`: retries left after this one):
 * `Retrying (Retry(total=2, connect=None, read=None, redirect=None, status=None)) after connection
 * broken by 'NewConnectionError(…)': /config`.
 */
export function retryWarning(
  o: { readonly https: boolean; readonly host: string; readonly port: number; readonly path: string },
  f: RestFailure,
  remaining: number,
): string {
  const cause = causeRepr(poolName(o.https, o.host, o.port), o.host, f);
  return `Retrying (Retry(total=${remaining}, connect=None, read=None, redirect=None, status=None)) after connection broken by '${cause}': ${o.path}`;
}

/** Whether another attempt may help (urllib3 retries up to three times). */
export function worthRetrying(method: string, f: RestFailure): boolean {
  if (f.kind === 'config' || f.kind === 'connect-timeout' || f.kind === 'read-timeout') return false;
  return retried(method, f);
}
