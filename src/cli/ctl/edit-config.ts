/**
 * `raftdcs ctl edit-config`: patronictl's `edit-config` on the Raft DCS.
 *
 * The dynamic configuration (the `config` key) is shown as PyYAML prints it; the change comes from
 * `--replace FILE` (a new configuration), `--apply FILE` (merged in with Patroni's `patch_config`:
 * a null removes a key), `--set a.b=value` / `-p name=value` (values read as YAML; an empty value
 * removes the key; `postgresql.parameters.*` names keep their dots), or, without any of those,
 * `$EDITOR` (else `editor`, else `vi`) on a temporary `<cluster>-config-*.yaml`. `-` as FILE is
 * stdin. An unchanged result prints `Not changed`; otherwise the unified diff is shown (`-q`
 * hides it), confirmed with `Apply these changes? [y/N]` (`--force` skips; a change read from
 * stdin needs `--force`), and written as Python's `json.dumps` of the new configuration with the
 * index the configuration was read at as `prevIndex` — a concurrent change makes the write fail
 * (`Config modification aborted due to concurrent changes`, exit 1) instead of overwriting it.
 *
 * Differences from patronictl: an `$EDITOR` with arguments (`code -w`) runs through `sh`;
 * edited text that is not YAML, or not a mapping, is refused with a message (patronictl crashes
 * or stores it); a cluster without a `config` key is an error (patronictl crashes).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { assert } from '../../assert.js';
import { isPyDict, JsonFloat, type PyJson, pyDictEntries, pyStr } from '../../dcs/model/json.js';
import { clusterTarget, readConfig } from './cluster.js';
import { CtlError, resolveScope } from './config.js';
import { configDiff } from './difflib.js';
import { pyJsonDumpsDefault } from './output.js';
import { pyYamlDump, pyYamlLoad, YamlLoadError } from './pyyaml.js';
import type { CtlSession } from './session.js';

export interface EditConfigOptions {
  readonly group?: number | null;
  readonly quiet?: boolean;
  readonly set?: readonly string[];
  readonly pg?: readonly string[];
  readonly apply?: string | null;
  readonly replace?: string | null;
  readonly force?: boolean;
}

type Dict = Map<string, PyJson>;

/** A deep copy with every dict as a Map (Python's `copy.deepcopy` of the parsed JSON). */
function deepCopy(v: PyJson): PyJson {
  if (Array.isArray(v)) return (v as readonly PyJson[]).map(deepCopy);
  if (isPyDict(v)) return new Map(pyDictEntries(v).map(([k, x]) => [k, deepCopy(x)]));
  return v;
}

function numeric(v: PyJson): number | bigint | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (v instanceof JsonFloat) return v.value;
  return null;
}

/** Python's `==` on JSON values (`1 == 1.0 == True`, dicts regardless of order). */
export function pyEquals(a: PyJson, b: PyJson): boolean {
  const x = numeric(a);
  const y = numeric(b);
  if (x !== null || y !== null) {
    if (x === null || y === null) return false;
    // biome-ignore lint/suspicious/noDoubleEquals: number/bigint comparison by value is intended
    return x == y;
  }
  if (a === null || b === null || typeof a === 'string' || typeof b === 'string') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    const l = a as readonly PyJson[];
    const r = b as readonly PyJson[];
    return l.length === r.length && l.every((v, i) => r[i] !== undefined && pyEquals(v, r[i]));
  }
  if (isPyDict(a) && isPyDict(b)) {
    const l = new Map(pyDictEntries(a));
    const r = new Map(pyDictEntries(b));
    if (l.size !== r.size) return false;
    for (const [k, v] of l) {
      if (!r.has(k) || !pyEquals(v, r.get(k) as PyJson)) return false;
    }
    return true;
  }
  return false;
}

/** Patroni's `patch_config(config, data)`: merge `data` in; null removes; equal-looking scalars stay. */
export function patchConfig(config: Dict, data: Dict): void {
  for (const [name, value] of data) {
    if (value === null) config.delete(name);
    else if (config.has(name)) {
      const old = config.get(name) as PyJson;
      if (value instanceof Map) {
        if (old instanceof Map) patchConfig(old as Dict, value as Dict);
        else config.set(name, value);
      } else if (pyStr(old) !== pyStr(value)) {
        config.set(name, value);
      }
    } else {
      config.set(name, value);
    }
  }
}

/** patronictl's `set_path_value`: a dotted path into the configuration; null removes. */
function setPathValue(config: Dict, path: string[], value: PyJson, prefix: readonly string[] = []): void {
  const p =
    prefix.length === 2 && prefix[0] === 'postgresql' && prefix[1] === 'parameters' ? [path.join('.')] : path;
  const [key, ...rest] = p;
  assert(key !== undefined, 'an empty configuration path');
  if (rest.length === 0) {
    if (value === null) config.delete(key);
    else config.set(key, value);
    return;
  }
  let child = config.get(key);
  if (!(child instanceof Map)) {
    child = new Map<string, PyJson>();
    config.set(key, child);
  }
  setPathValue(child as Dict, rest, value, [...prefix, key]);
  if ((child as Dict).size === 0) config.delete(key);
}

function loadYaml(text: string, what: string): PyJson {
  try {
    return pyYamlLoad(text);
  } catch (e) {
    if (e instanceof YamlLoadError) throw new CtlError(`${what} is not valid YAML: ${e.message}`);
    throw e;
  }
}

function asDict(v: PyJson, what: string): Dict {
  if (v instanceof Map) return v as Dict;
  throw new CtlError(`${what} must be a YAML mapping, got ${v === null ? 'nothing' : pyStr(v)}`);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function applyYamlFile(session: CtlSession, data: Dict, filename: string): Promise<[string, Dict]> {
  let text: string;
  if (filename === '-') text = await readAll(session.io.stdin);
  else {
    try {
      text = readFileSync(filename, 'utf8');
    } catch (e) {
      throw new CtlError(`cannot read ${filename}: ${(e as Error).message}`);
    }
  }
  const changed = deepCopy(data) as Dict;
  patchConfig(
    changed,
    asDict(loadYaml(text, filename === '-' ? 'stdin' : filename), filename === '-' ? 'stdin' : filename),
  );
  return [pyYamlDump(changed), changed];
}

function applyConfigChanges(data: Dict, pairs: readonly string[]): [string, Dict] {
  const changed = deepCopy(data) as Dict;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (pair === '' || eq < 0) throw new CtlError(`Invalid parameter setting ${pair}`);
    const keyPath = pair.slice(0, eq).trim().split('.');
    setPathValue(changed, keyPath, loadYaml(pair.slice(eq + 1), `the value of ${pair.slice(0, eq)}`));
  }
  return [pyYamlDump(changed), changed];
}

function onPath(name: string, env: NodeJS.ProcessEnv | Record<string, string | undefined>): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

async function invokeEditor(session: CtlSession, before: string, cluster: string): Promise<[string, Dict]> {
  const env = session.io.env;
  const editor = env.EDITOR || onPath('editor', env) || onPath('vi', env);
  if (!editor) throw new CtlError('EDITOR environment variable is not set. editor or vi are not available');
  const dir = mkdtempSync(join(tmpdir(), 'raftdcs-ctl-'));
  const file = join(dir, `${cluster.replace(/[/\\]/g, '_')}-config-${process.pid}.yaml`);
  try {
    writeFileSync(file, before);
    const [cmd, args] = /\s/.test(editor.trim())
      ? ['sh', ['-c', `${editor} "$1"`, 'sh', file]]
      : [editor, [file]];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd as string, args as string[], {
        stdio: 'inherit',
        env: env as NodeJS.ProcessEnv,
      });
      child.once('error', reject);
      child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    }).catch((e: Error) => {
      throw new CtlError(`cannot run the editor ${editor}: ${e.message}`);
    });
    if (code !== 0) throw new CtlError(`Editor exited with return code ${code}`);
    const after = readFileSync(file, 'utf8');
    return [after, asDict(loadYaml(after, 'the edited configuration'), 'the edited configuration')];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function showDiff(session: CtlSession, before: string, after: string): void {
  const color = Boolean(session.io.stdout.isTTY) && !session.io.env.NO_COLOR;
  for (const line of configDiff(before, after)) {
    if (!color) session.echo(line);
    else if (line.startsWith('+')) session.echo(`\x1b[32m${line}\x1b[0m`);
    else if (line.startsWith('-')) session.echo(`\x1b[31m${line}\x1b[0m`);
    else if (line.startsWith('@@')) session.echo(`\x1b[36m${line}\x1b[0m`);
    else session.echo(line);
  }
}

export async function editConfig(
  session: CtlSession,
  name: string | undefined,
  o: EditConfigOptions,
): Promise<number> {
  const scope = resolveScope(session.config, name, session.configPath);
  const dcs = await session.dcs(clusterTarget(session, scope, o.group, 'configured'));
  const current = readConfig(dcs);
  if (current === null) {
    throw new CtlError(`cluster ${scope} has no dynamic configuration (no ${dcs.paths.config} key) to edit`);
  }
  const beforeText = pyYamlDump(current.data);
  let afterText: string | null = null;
  let changed = current.data as Dict;
  if (o.replace) [afterText, changed] = await applyYamlFile(session, new Map(), o.replace);
  if (o.apply) [afterText, changed] = await applyYamlFile(session, changed, o.apply);
  const pairs = [...(o.set ?? []), ...(o.pg ?? []).map((v) => `postgresql.parameters.${v.trimStart()}`)];
  if (pairs.length > 0) [afterText, changed] = applyConfigChanges(changed, pairs);
  if (afterText === null) [afterText, changed] = await invokeEditor(session, beforeText, scope);

  if (pyEquals(current.data, changed)) {
    if (!o.quiet) session.echo('Not changed');
    return 0;
  }
  if (!o.quiet) showDiff(session, beforeText, afterText);
  if ((o.apply === '-' || o.replace === '-') && !o.force) {
    session.echo('Use --force option to apply changes');
    return 0;
  }
  if (o.force || (await session.terminal.confirm('Apply these changes?'))) {
    if (!(await dcs.setConfigValue(pyJsonDumpsDefault(changed), current.version))) {
      throw new CtlError('Config modification aborted due to concurrent changes');
    }
    session.echo('Configuration changed');
  }
  return 0;
}
