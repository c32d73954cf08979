/**
 * How `raftdcs ctl` talks to Patroni's REST API: basic auth, TLS and time-outs, from the
 * configuration by the rules of Patroni 3.0.2's `patroni/request.py` (`PatroniRequest`) and the
 * `restapi.auth` that its `Config` derives:
 *
 * - a setting `X` is `ctl.X` when that is truthy, else `restapi.X` (`certfile`, `keyfile`,
 *   `keyfile_password`, `auth`); the CA file is `ctl.cacert`, else `restapi.cafile`;
 * - `auth` is `user:password`; `restapi.authentication: {username, password}` becomes
 *   `restapi.auth` (and replaces a `restapi.auth` written by hand), as Patroni's configuration
 *   loader does; there is no `ctl.authentication` in 3.0.2 (only `ctl.auth`);
 * - insecure is a truthy `ctl.insecure` or `-k/--insecure`;
 * - with a client certificate (`certfile`) the server's certificate is always verified, and its
 *   host name only when not insecure; without one, insecure turns verification off entirely;
 * - the certificate and key files are only read for https URLs (urllib3 ignores them for http).
 *
 * patronictl sets no time-out at all (a silent member hangs it forever); ours bounds the connect
 * and each wait for response bytes by `--api-timeout` (default 10 s). A restart that is not
 * scheduled runs while Patroni holds the request, so its wait is stretched to the restart's own
 * time-out (`--timeout`, else Patroni's default `primary_start_timeout` of 300 s) plus a minute.
 *
 * Pure: reads the configuration tree it is given; a value of the wrong type is a CtlError naming
 * the key.
 */
import { pyTruthy } from '../../config/patroni-config.js';
import { type ConfigMap, type ConfigValue, isConfigMap } from '../../config/yaml.js';
import { pyScalarStr } from '../../py/repr.js';
import { strtol } from '../../py/strtol.js';
import { CtlError } from './config.js';

export interface RestTlsSettings {
  /** client certificate (PEM; may hold the key too), and where it came from */
  readonly certFile: { readonly path: string; readonly key: string } | null;
  readonly keyFile: { readonly path: string; readonly key: string } | null;
  readonly keyPassword: string | null;
  readonly caFile: { readonly path: string; readonly key: string } | null;
  /** verify the server's certificate chain (urllib3's `cert_reqs=CERT_REQUIRED`) */
  readonly verifyPeer: boolean;
  /** check the certificate's names against the host (urllib3's `assert_hostname`) */
  readonly checkHostname: boolean;
}

export interface RestSettings {
  /** `user:password` for basic auth, or null */
  readonly auth: string | null;
  readonly tls: RestTlsSettings;
  /** seconds for a connect and for each wait for response bytes */
  readonly timeoutSeconds: number;
}

export const DEFAULT_API_TIMEOUT_SECONDS = 10;
/** Patroni's default `primary_start_timeout`: how long a restart may take without `timeout` */
export const PATRONI_DEFAULT_START_TIMEOUT_SECONDS = 300;
/** added to the restart's own time-out for the stop and the reply */
export const RESTART_MARGIN_SECONDS = 60;

function section(config: ConfigMap, name: string): ConfigMap {
  const s = config[name];
  if (s === undefined || s === null) return Object.create(null) as ConfigMap;
  if (!isConfigMap(s)) throw new CtlError(`${name}: expected a mapping`, name);
  return s;
}

/** A truthy value of `sectionName.key` as a string (a number is taken as Python prints it). */
function textSetting(
  config: ConfigMap,
  sectionName: string,
  key: string,
): { path: string; key: string } | null {
  const v = section(config, sectionName)[key];
  if (!pyTruthy(v)) return null;
  if (typeof v === 'object')
    throw new CtlError(`${sectionName}.${key}: expected a string`, `${sectionName}.${key}`);
  return { path: pyScalarStr(v as Exclude<ConfigValue, object>), key: `${sectionName}.${key}` };
}

/** request.py's `_get_cfg_value`: `ctl.X or restapi.X`. */
function ctlOrRestapi(config: ConfigMap, key: string): { path: string; key: string } | null {
  return textSetting(config, 'ctl', key) ?? textSetting(config, 'restapi', key);
}

/** `restapi.auth` as Patroni's configuration loader leaves it. */
function restapiAuth(config: ConfigMap): string | null {
  const restapi = section(config, 'restapi');
  const authentication = restapi.authentication;
  if (authentication !== undefined) {
    if (!isConfigMap(authentication)) {
      throw new CtlError('restapi.authentication: expected a mapping', 'restapi.authentication');
    }
    const part = (k: 'username' | 'password'): string => {
      const v = authentication[k];
      if (v === undefined) {
        throw new CtlError(`restapi.authentication.${k}: missing`, `restapi.authentication.${k}`);
      }
      if (typeof v === 'object' && v !== null) {
        throw new CtlError(`restapi.authentication.${k}: expected a string`, `restapi.authentication.${k}`);
      }
      return pyScalarStr(v);
    };
    return `${part('username')}:${part('password')}`;
  }
  return textSetting(config, 'restapi', 'auth')?.path ?? null;
}

/** The REST settings for this configuration and `-k/--insecure`. */
export function restSettings(
  config: ConfigMap,
  o: { readonly insecure?: boolean; readonly timeoutSeconds?: number | null } = {},
): RestSettings {
  const ctl = section(config, 'ctl');
  const insecure = pyTruthy(ctl.insecure) || Boolean(o.insecure);
  const auth = textSetting(config, 'ctl', 'auth')?.path ?? restapiAuth(config);
  if (auth !== null && [...auth].some((c) => (c.codePointAt(0) ?? 0) > 0xff)) {
    throw new CtlError('the REST API user name and password must be Latin-1 text (as urllib3 encodes them)');
  }
  const certFile = ctlOrRestapi(config, 'certfile');
  const tls: RestTlsSettings = certFile
    ? {
        certFile,
        keyFile: ctlOrRestapi(config, 'keyfile'),
        keyPassword: ctlOrRestapi(config, 'keyfile_password')?.path ?? null,
        caFile: textSetting(config, 'ctl', 'cacert') ?? textSetting(config, 'restapi', 'cafile'),
        verifyPeer: true,
        checkHostname: !insecure,
      }
    : {
        certFile: null,
        keyFile: null,
        keyPassword: null,
        caFile: textSetting(config, 'ctl', 'cacert') ?? textSetting(config, 'restapi', 'cafile'),
        verifyPeer: !insecure,
        checkHostname: !insecure,
      };
  return { auth, tls, timeoutSeconds: o.timeoutSeconds ?? DEFAULT_API_TIMEOUT_SECONDS };
}

/**
 * How long to wait for the reply to `POST /restart` carrying `timeout` (a string as given to
 * `--timeout`, read as Patroni's `parse_int(value, 's')` reads it), at least `base` seconds.
 */
export function restartReplySeconds(timeout: string | null, base: number): number {
  let seconds = PATRONI_DEFAULT_START_TIMEOUT_SECONDS;
  if (timeout !== null) {
    const { value, rest } = strtol(timeout);
    const unit = rest.trim();
    const scale: Record<string, number> = { '': 1, s: 1, ms: 0.001, min: 60, h: 3600, d: 86400 };
    const factor = scale[unit];
    if (value !== null && value > 0n && factor !== undefined) seconds = Number(value) * factor;
  }
  return Math.max(base, seconds + RESTART_MARGIN_SECONDS);
}
