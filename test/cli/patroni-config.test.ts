/**
 * Configuration loading by Patroni's rules (src/config/patroni-config.ts): file, directory of YAML
 * files, PATRONI_CONFIGURATION, environment only; PATRONI_* overrides (M03); YAML 1.1 numbers and
 * Python's int/float split; errors that name the key. In-process, no network.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controllerSettings, parseHttpListen } from '../../src/config/controller-config.js';
import {
  type EnvSource,
  environmentConfiguration,
  loadPatroniConfig,
  parseEnvList,
  patchConfig,
  reloadPatroniConfig,
} from '../../src/config/patroni-config.js';
import { type ConfigMap, parseYaml } from '../../src/config/yaml.js';
import { pyRoundHalfEven } from '../../src/py/numbers.js';
import { pyScalarRepr } from '../../src/py/repr.js';
import { parseIntNoUnit, parseRealNoUnit } from '../../src/py/strtol.js';
import { ConfigError, ConfigError as RaftConfigError } from '../../src/raft/config.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'raftdcs-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function plain(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)));
}

function expectConfigError(fn: () => unknown, key: string, text: string | RegExp): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a ConfigError').toBeInstanceOf(ConfigError);
  const e = caught as ConfigError;
  expect(e).toBeInstanceOf(RaftConfigError);
  expect(e.key).toBe(key);
  if (typeof text === 'string') expect(e.message).toContain(text);
  else expect(e.message).toMatch(text);
  return e;
}

describe('M03 environment variables override the file', () => {
  const yaml = `raft:
  self_addr: 127.0.0.1:9999
  partner_addrs: ['10.0.0.1:1']
  data_dir: /var/lib/x
  min_timeout: 2.0
  password: keep
scope: batman
`;

  it('M03 PATRONI_RAFT_* give raft.self_addr, partner_addrs (quoted list), data_dir, min_timeout', () => {
    const path = file('p.yml', yaml);
    const env: EnvSource = {
      PATRONI_RAFT_SELF_ADDR: '127.0.0.1:7101',
      PATRONI_RAFT_PARTNER_ADDRS: "'127.0.0.1:7102','127.0.0.1:7103'",
      PATRONI_RAFT_DATA_DIR: '/tmp/rd',
      PATRONI_RAFT_MIN_TIMEOUT: '0.5',
    };
    const { config, source, variablesUsed } = loadPatroniConfig({ path, env });
    expect(source).toEqual({ kind: 'file', path });
    expect(plain(config.raft)).toEqual({
      self_addr: '127.0.0.1:7101',
      partner_addrs: ['127.0.0.1:7102', '127.0.0.1:7103'],
      data_dir: '/tmp/rd',
      min_timeout: 0.5,
      password: 'keep',
    });
    expect(config.scope).toBe('batman');
    expect([...variablesUsed].sort()).toEqual(Object.keys(env).sort());
    // not consumed unless asked
    expect(env.PATRONI_RAFT_SELF_ADDR).toBe('127.0.0.1:7101');
  });

  it('M03 an empty variable is ignored', () => {
    const path = file('p.yml', yaml);
    const { config } = loadPatroniConfig({
      path,
      env: { PATRONI_RAFT_SELF_ADDR: '', PATRONI_RAFT_DATA_DIR: '', PATRONI_SCOPE: '' },
    });
    expect((config.raft as ConfigMap).self_addr).toBe('127.0.0.1:9999');
    expect((config.raft as ConfigMap).data_dir).toBe('/var/lib/x');
    expect(config.scope).toBe('batman');
  });

  it('M03 the unquoted comma form gives the same two strings', () => {
    const { config } = environmentConfiguration({
      PATRONI_RAFT_PARTNER_ADDRS: '127.0.0.1:7102,127.0.0.1:7103',
    });
    expect(plain(config)).toEqual({ raft: { partner_addrs: ['127.0.0.1:7102', '127.0.0.1:7103'] } });
    for (const text of [
      '[127.0.0.1:7102, 127.0.0.1:7103]',
      '- 127.0.0.1:7102\n- 127.0.0.1:7103',
      ' "127.0.0.1:7102" , "127.0.0.1:7103" ',
    ]) {
      expect(plain(parseEnvList(text)), text).toEqual({
        ok: true,
        value: ['127.0.0.1:7102', '127.0.0.1:7103'],
      });
    }
  });

  it('M03 the overridden section validates: partner strings, min_timeout 0.5 as a float', () => {
    const { config } = loadPatroniConfig({
      env: {
        PATRONI_RAFT_SELF_ADDR: '127.0.0.1:7101',
        PATRONI_RAFT_PARTNER_ADDRS: "'127.0.0.1:7102','127.0.0.1:7103'",
        PATRONI_RAFT_MIN_TIMEOUT: '0.5',
      },
    });
    const s = controllerSettings(config).node;
    expect(s.selfAddr).toBe('127.0.0.1:7101');
    expect(s.partnerAddrs).toEqual(['127.0.0.1:7102', '127.0.0.1:7103']);
    expect(s.timeouts.custom).toEqual({ raftMinTimeout: 0.5 });
    expect(s.timeouts.logLine).toBe('Applying custom pysyncobj timeouts: min_timeout=0.5');
  });

  it('M03 every timeout variable is read as a real; a unit or garbage is ignored with a warning', () => {
    const warnings: string[] = [];
    const { config } = environmentConfiguration(
      {
        PATRONI_RAFT_APPEND_ENTRIES_PERIOD: ' 0.2 ',
        PATRONI_RAFT_MIN_TIMEOUT: '5',
        PATRONI_RAFT_MAX_TIMEOUT: '10s',
        PATRONI_RAFT_CONNECTION_TIMEOUT: 'abc',
        PATRONI_RAFT_CONNECTION_RETRY_TIME: '0',
        PATRONI_RAFT_LEADER_FALLBACK_TIMEOUT: '+3e1',
      },
      warnings,
    );
    expect(plain(config)).toEqual({
      raft: {
        append_entries_period: 0.2,
        min_timeout: 5,
        connection_retry_time: 0,
        leader_fallback_timeout: 30,
      },
    });
    // a real from the environment is a Python float: printed 5.0
    expect(pyScalarRepr((config.raft as ConfigMap).min_timeout as number)).toBe('5.0');
    expect(warnings.join('\n')).toMatch(/PATRONI_RAFT_MAX_TIMEOUT="10s".*ignored/);
    expect(warnings.join('\n')).toMatch(/PATRONI_RAFT_CONNECTION_TIMEOUT="abc".*ignored/);
  });

  it('M03 name/scope/namespace, bind_addr, password, citus group/database, log level (and the old PATRONI_LOGLEVEL)', () => {
    const env: EnvSource = {
      PATRONI_NAME: 'pg1',
      PATRONI_SCOPE: 'batman',
      PATRONI_NAMESPACE: '/svc/',
      PATRONI_RAFT_BIND_ADDR: '0.0.0.0:7101',
      PATRONI_RAFT_PASSWORD: 's3cret',
      PATRONI_CITUS_GROUP: '0x10',
      PATRONI_CITUS_DATABASE: 'citus',
      PATRONI_LOGLEVEL: 'DEBUG',
      OTHER: 'x',
    };
    const { config, used } = environmentConfiguration(env);
    expect(plain(config)).toEqual({
      name: 'pg1',
      scope: 'batman',
      namespace: '/svc/',
      log: { level: 'DEBUG' },
      raft: { bind_addr: '0.0.0.0:7101', password: 's3cret' },
      citus: { group: '16n', database: 'citus' },
    });
    expect(used).not.toContain('OTHER');
    // every variable read is removed, as Patroni pops them; others are left alone
    expect(Object.keys(env)).toEqual(['OTHER']);
    // PATRONI_LOG_LEVEL wins over the old name
    expect(
      plain(environmentConfiguration({ PATRONI_LOGLEVEL: 'DEBUG', PATRONI_LOG_LEVEL: 'ERROR' }).config),
    ).toEqual({ log: { level: 'ERROR' } });
  });

  it('the REST API client variables patronictl reads: PATRONI_RESTAPI_* and PATRONI_CTL_*', () => {
    const warnings: string[] = [];
    const env: EnvSource = {
      PATRONI_RESTAPI_USERNAME: 'patroni',
      PATRONI_RESTAPI_PASSWORD: 's3cret',
      PATRONI_RESTAPI_CERTFILE: '/etc/p/server.pem',
      PATRONI_RESTAPI_KEYFILE: '/etc/p/server.key',
      PATRONI_RESTAPI_KEYFILE_PASSWORD: 'k',
      PATRONI_RESTAPI_CAFILE: '/etc/p/ca.pem',
      PATRONI_CTL_CACERT: '/etc/p/ctl-ca.pem',
      PATRONI_CTL_CERTFILE: '/etc/p/ctl.pem',
      PATRONI_CTL_KEYFILE: '/etc/p/ctl.key',
      PATRONI_CTL_KEYFILE_PASSWORD: 'c',
      PATRONI_CTL_INSECURE: 'on',
    };
    const names = Object.keys(env).sort();
    const { config, used } = environmentConfiguration(env, warnings);
    expect(plain(config)).toEqual({
      restapi: {
        certfile: '/etc/p/server.pem',
        keyfile: '/etc/p/server.key',
        keyfile_password: 'k',
        cafile: '/etc/p/ca.pem',
        authentication: { username: 'patroni', password: 's3cret' },
      },
      ctl: {
        cacert: '/etc/p/ctl-ca.pem',
        certfile: '/etc/p/ctl.pem',
        keyfile: '/etc/p/ctl.key',
        keyfile_password: 'c',
        insecure: true,
      },
    });
    expect([...used].sort()).toEqual(names);
    expect(Object.keys(env)).toEqual([]);
    expect(warnings).toEqual([]);
    // parse_bool: anything else is ignored (we say so)
    const bad = environmentConfiguration({ PATRONI_CTL_INSECURE: 'maybe' }, warnings);
    expect(plain(bad.config)).toEqual({});
    expect(warnings.join('\n')).toMatch(/PATRONI_CTL_INSECURE="maybe" is not a boolean; ignored/);
  });

  it('consumeEnv removes the variables from the given environment', () => {
    const env: EnvSource = { PATRONI_RAFT_SELF_ADDR: '127.0.0.1:7101', PATRONI_CONFIGURATION: '', KEEP: '1' };
    loadPatroniConfig({ env, consumeEnv: true });
    expect(env).toEqual({ KEEP: '1' });
  });
});

describe('loading rules', () => {
  it('a directory: *.yml and *.yaml regular files merged in sorted order, later files win, others ignored', () => {
    const d = join(dir, 'conf.d');
    mkdirSync(d);
    writeFileSync(join(d, '10-base.yml'), 'scope: one\nraft:\n  self_addr: 127.0.0.1:1\n  data_dir: /a\n');
    writeFileSync(join(d, '20-override.yaml'), 'scope: two\nraft:\n  data_dir: /b\n');
    writeFileSync(join(d, '05-first.yml'), 'name: n\nscope: zero\n');
    writeFileSync(join(d, 'notes.txt'), 'scope: ignored\n');
    writeFileSync(join(d, '99-empty.yml'), '');
    mkdirSync(join(d, '50-dir.yml'));
    symlinkSync(join(d, '10-base.yml'), join(d, '60-link.yml'));
    const { config, source } = loadPatroniConfig({ path: d, env: {} });
    expect(source).toEqual({
      kind: 'directory',
      path: d,
      files: ['05-first.yml', '10-base.yml', '20-override.yaml', '60-link.yml', '99-empty.yml'].map((f) =>
        join(d, f),
      ),
    });
    // 60-link.yml repeats 10-base.yml, so data_dir goes back to /a
    expect(plain(config)).toEqual({
      name: 'n',
      scope: 'one',
      raft: { self_addr: '127.0.0.1:1', data_dir: '/a' },
    });
  });

  it('PATRONI_CONFIGURATION when no path is given; the other variables are not patched over it (as Patroni)', () => {
    const { config, source } = loadPatroniConfig({
      env: { PATRONI_CONFIGURATION: 'raft:\n  self_addr: 127.0.0.1:5\n', PATRONI_SCOPE: 'ignored' },
    });
    expect(source).toEqual({ kind: 'PATRONI_CONFIGURATION' });
    expect(plain(config)).toEqual({ raft: { self_addr: '127.0.0.1:5' } });
  });

  it('a path that does not exist falls back to PATRONI_CONFIGURATION / the environment, with a warning', () => {
    const { config, source, warnings } = loadPatroniConfig({
      path: join(dir, 'missing.yml'),
      env: { PATRONI_RAFT_SELF_ADDR: '127.0.0.1:6' },
    });
    expect(source).toEqual({ kind: 'environment' });
    expect(plain(config)).toEqual({ raft: { self_addr: '127.0.0.1:6' } });
    expect(warnings[0]).toContain('does not exist');
  });

  it('an empty PATRONI_CONFIGURATION document falls back to the environment', () => {
    const { source, config } = loadPatroniConfig({
      env: { PATRONI_CONFIGURATION: '# nothing\n', PATRONI_NAME: 'n1' },
    });
    expect(source).toEqual({ kind: 'environment' });
    expect(plain(config)).toEqual({ name: 'n1' });
  });

  it('Config is empty.: no path and no variables, an empty file, a file of only nulls', () => {
    expectConfigError(() => loadPatroniConfig({ env: {} }), '', /^Config is empty\.$/);
    expectConfigError(
      () => loadPatroniConfig({ path: file('e.yml', ''), env: {} }),
      '',
      /^Config is empty\.$/,
    );
    expectConfigError(
      () => loadPatroniConfig({ path: file('n.yml', 'raft: ~\nscope: null\n'), env: {} }),
      '',
      'Config is empty.',
    );
  });

  it('YAML errors and non-mapping documents are ConfigErrors naming the file', () => {
    const bad = file('bad.yml', 'raft: [\n');
    expectConfigError(() => loadPatroniConfig({ path: bad, env: {} }), '', `${bad}: invalid YAML`);
    const list = file('list.yml', '- a\n- b\n');
    expectConfigError(
      () => loadPatroniConfig({ path: list, env: {} }),
      '',
      `${list}: the top level must be a mapping`,
    );
    expectConfigError(
      () => loadPatroniConfig({ env: { PATRONI_CONFIGURATION: 'just text' } }),
      '',
      'PATRONI_CONFIGURATION: the top level must be a mapping, got the string "just text"',
    );
  });

  it('YAML 1.1 as PyYAML: ints are bigint, floats number, yes is true, 0777 octal, unquoted 10:20 is 620', () => {
    expect(
      plain(parseYaml('a: 5\nb: 5.0\nc: yes\nd: 0777\ne: 10:20\nf: "10:20"\ng: ~\nh: 0x1f\n', 't')),
    ).toEqual({
      a: '5n',
      b: 5,
      c: true,
      d: '511n',
      e: '620n',
      f: '10:20',
      g: null,
      h: '31n',
    });
  });

  it("patch_config: null removes, mappings merge, scalars replace unless they print the same (Patroni's rule)", () => {
    const c = parseYaml('a: 1\nb: {x: 1, y: 2}\nc: 5\nd: keep\n', 't') as ConfigMap;
    const changed = patchConfig(c, parseYaml('a: ~\nb: {y: 3, z: 4}\nc: "5"\ne: new\n', 't') as ConfigMap);
    expect(changed).toBe(true);
    expect(plain(c)).toEqual({ b: { x: '1n', y: '3n', z: '4n' }, c: '5n', d: 'keep', e: 'new' });
    expect(patchConfig(c, parseYaml('d: keep\n', 't') as ConfigMap)).toBe(false);
  });

  it('SIGHUP reload re-reads the file and patches the start-up environment values over it', () => {
    const path = file('r.yml', 'log:\n  level: INFO\nraft:\n  self_addr: 127.0.0.1:1\n');
    const loaded = loadPatroniConfig({ path, env: { PATRONI_RAFT_DATA_DIR: '/from/env' } });
    writeFileSync(path, 'log:\n  level: DEBUG\nraft:\n  self_addr: 127.0.0.1:1\n');
    const again = reloadPatroniConfig(loaded);
    expect(plain(again)).toEqual({
      log: { level: 'DEBUG' },
      raft: { self_addr: '127.0.0.1:1', data_dir: '/from/env' },
    });
  });
});

describe('the raft: section and the controller settings', () => {
  const section = (yaml: string) => parseYaml(yaml, 't') as ConfigMap;

  it('M04 controllerSettings: a missing raft section or raft.self_addr names raft.self_addr', () => {
    expectConfigError(
      () => controllerSettings(section('scope: x\n')),
      'raft.self_addr',
      'raft.self_addr: is required',
    );
    expectConfigError(
      () => controllerSettings(section('raft:\n  data_dir: /x\n')),
      'raft.self_addr',
      'raft.self_addr: is required',
    );
  });

  it('raft keys are checked by the Raft DCS rules; errors come back under raft.', () => {
    const raft = (body: string) => section(`raft:\n  self_addr: a:1\n${body}`);
    expectConfigError(
      () => controllerSettings(raft('  partner_addrs: [127.0.0.1:2222, 10:20]\n')),
      'raft.partner_addrs',
      /^raft\.partner_addrs: .*quote them.*620/,
    );
    expectConfigError(
      () => controllerSettings(raft('  partner_addrs: b:1\n')),
      'raft.partner_addrs',
      'a list',
    );
    expectConfigError(
      () => controllerSettings(raft('  password: 1234\n')),
      'raft.password',
      'must be a string',
    );
    expectConfigError(
      () => controllerSettings(section('raft:\n  self_addr: a:1\n  patronictl: true\n')),
      'raft.patronictl',
      'cannot run read-only',
    );
    const s = controllerSettings(
      raft('  partner_addrs: [b:2, a:1, b:2, c:3]\n  retry_timeout: 7.9\n  ttl: 20\n  typo_key: 1\n'),
    );
    expect(s.node.partnerAddrs).toEqual(['b:2', 'c:3']);
    expect(s.node.retryTimeout).toBe(7);
    expect(s.node.conf.dnsCacheTime).toBe(20);
    expect(s.node.conf.dnsFailCacheTime).toBe(10);
    expect(s.unknownRaftKeys).toEqual(['typo_key']);
  });

  it('controller settings: files named as Patroni names them, raftdcs section, overrides', () => {
    const s = controllerSettings(
      section(
        'raft:\n  self_addr: 10.0.0.1:2222\n  data_dir: /d\nraftdcs:\n  http: 127.0.0.1:8009\n  max_bind_retries: 2\n',
      ),
      {},
    );
    expect(s.node.files.journal).toBe('/d/10.0.0.1:2222.journal');
    expect(s.node.files.dump).toBe('/d/10.0.0.1:2222.dump');
    expect(s.node.conf.journalFile).toBe('/d/10.0.0.1:2222.journal');
    expect(s.node.conf.fullDumpFile).toBe('/d/10.0.0.1:2222.dump');
    expect(s.http).toEqual({ host: '127.0.0.1', port: 8009 });
    expect(s.maxBindRetries).toBe(2);
    const o = controllerSettings(section('raft:\n  self_addr: a:1\n'), {
      http: '[::1]:0',
      maxBindRetries: 0,
    });
    expect(o.node.files.journal).toBe('a:1.journal');
    expect(o.http).toEqual({ host: '::1', port: 0 });
    expect(o.maxBindRetries).toBe(0);
    expect(() => parseHttpListen('nope', '--http')).toThrow(/--http: expected "host:port"/);
    expectConfigError(
      () => controllerSettings(section('raft:\n  self_addr: a:1\nraftdcs:\n  max_bind_retries: -1\n')),
      'raftdcs.max_bind_retries',
      'whole number',
    );
  });
});

describe('Python number parsing (Patroni parse_int / parse_real)', () => {
  it('parse_int: base 0, rounding half to even, units rejected', () => {
    expect(parseIntNoUnit('12')).toBe(12n);
    expect(parseIntNoUnit(' 0x1F ')).toBe(31n);
    expect(parseIntNoUnit('017')).toBe(15n);
    expect(parseIntNoUnit('-3')).toBe(-3n);
    expect(parseIntNoUnit('2.5')).toBe(2n);
    expect(parseIntNoUnit('3.5')).toBe(4n);
    expect(parseIntNoUnit('1e1')).toBe(10n);
    expect(parseIntNoUnit('5kB')).toBeNull();
    expect(parseIntNoUnit('abc')).toBeNull();
    expect(pyRoundHalfEven(0.5)).toBe(0n);
    expect(pyRoundHalfEven(0.501)).toBe(1n);
  });

  it('parse_real: blanks and signs allowed, a unit or garbage is null', () => {
    expect(parseRealNoUnit(' +0.0005 ')).toBe(0.0005);
    expect(parseRealNoUnit('.5')).toBe(0.5);
    expect(parseRealNoUnit('1e3')).toBe(1000);
    expect(parseRealNoUnit('3s')).toBeNull();
    expect(parseRealNoUnit('')).toBeNull();
    expect(pyScalarRepr(5n)).toBe('5');
    expect(pyScalarRepr(5)).toBe('5.0');
  });
});
