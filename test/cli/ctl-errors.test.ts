/**
 * `raftdcs ctl` when something is wrong: exit code 1 and a message that names the problem — a
 * configuration file that is not there, no raft section, an unusable key (named), no cluster
 * name, no Raft leader within `--timeout` (nothing listening, or a wrong `raft.password`); exit 2
 * for bad arguments, as click's usage errors. Also where the configuration comes from
 * (`PATRONICTL_CONFIG_FILE`, the default `~/.config/patroni/patronictl.yaml`), an empty cluster,
 * and `raft.password` on a single encrypted controller.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { useProcesses } from './cli-process.js';
import { ctl, type RunResult } from './ctl-helpers.js';

const procs = useProcesses();

function failed(r: RunResult, code: number, ...messages: string[]): void {
  expect(r.code, `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(code);
  for (const m of messages) expect(r.stderr).toContain(m);
}

function config(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('raftdcs ctl: errors', () => {
  it('bad configuration: a missing file, no raft section, unusable keys (named), no cluster name', async () => {
    const dir = procs.dir();
    const [a, b] = await freeLoopbackAddresses(2);
    const noRaft = config(dir, 'a.yml', 'scope: batman\netcd:\n  host: 127.0.0.1:2379\n');
    const badPartner = config(dir, 'b.yml', 'scope: batman\nraft:\n  partner_addrs: [10:20]\n');
    const badTimeout = config(
      dir,
      'c.yml',
      `scope: batman\nraft:\n  partner_addrs: ['${a}']\n  min_timeout: abc\n`,
    );
    const order = config(
      dir,
      'd.yml',
      `scope: batman\nraft:\n  partner_addrs: ['${a}']\n  max_timeout: 0.2\n`,
    );
    const empty = config(dir, 'e.yml', 'scope: batman\nraft: {}\n');
    const noScope = config(dir, 'f.yml', `raft:\n  partner_addrs: ['${a}', '${b}']\n`);
    const badYaml = config(dir, 'g.yml', 'scope: [\n');
    const [missing, r1, r2, r3, r4, r5, r6, r7, r8] = await Promise.all([
      ctl(['-c', join(dir, 'nope.yml'), 'list']),
      ctl(['-c', noRaft, 'list']),
      ctl(['-c', badPartner, 'list']),
      ctl(['-c', badTimeout, 'show-config']),
      ctl(['-c', order, 'history']),
      ctl(['-c', empty, 'list']),
      ctl(['-c', noScope, 'show-config']),
      ctl(['-c', noScope, 'list']),
      ctl(['-c', badYaml, 'list']),
    ]);
    failed(
      missing as RunResult,
      1,
      `Error: Provided config file ${join(dir, 'nope.yml')} not existing or no read rights. Check the -c/--config-file parameter`,
    );
    failed(r1 as RunResult, 1, 'Error: raft: the configuration has no raft section');
    failed(r2 as RunResult, 1, 'Error: raft.partner_addrs', 'quote them');
    failed(r3 as RunResult, 1, 'Error: raft.min_timeout', 'must be a number');
    failed(
      r4 as RunResult,
      1,
      'Error: raft.max_timeout',
      'max_timeout (0.2) must be > min_timeout (0.4 (default))',
    );
    failed(r5 as RunResult, 1, 'Error: raft.partner_addrs: no Raft node to ask');
    failed(r6 as RunResult, 1, 'Error: no cluster name: give it on the command line or set scope in');
    // patronictl: `list` without any cluster name only warns
    expect(r7?.code).toBe(0);
    expect(r7?.stdout).toBe('');
    expect(r7?.stderr).toMatch(/ - WARNING - Listing members: No cluster names were provided\n$/);
    failed(r8 as RunResult, 1, 'Error: ', 'invalid YAML');
    for (const r of [missing, r1, r2, r3, r4, r5, r6, r8]) expect(r?.stdout).toBe('');
  }, 60_000);

  it('no Raft leader within --timeout: exit 1 naming the partners asked; bad arguments: exit 2', async () => {
    const dir = procs.dir();
    const [a, b, self] = await freeLoopbackAddresses(3);
    const yml = config(
      dir,
      'p.yml',
      `scope: batman\nraft:\n  partner_addrs: ['${a}', '${b}']\n  self_addr: '${self}'\n`,
    );
    const t0 = Date.now();
    const [none, badFormat, badGroup, unknown, noRemoveName] = await Promise.all([
      ctl(['-c', yml, '--timeout', '1.5', 'list']),
      ctl(['-c', yml, 'list', '-f', 'xml']),
      ctl(['-c', yml, 'list', '--group', 'x']),
      ctl(['-c', yml, 'frobnicate']),
      ctl(['-c', yml, 'remove']),
    ]);
    failed(
      none as RunResult,
      1,
      `Error: no Raft leader found within 1.5 s (asked ${a}, ${b}, ${self})`,
      'raft.password',
    );
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(none?.stdout).toBe('');
    failed(badFormat as RunResult, 2, "'xml' is invalid");
    failed(badGroup as RunResult, 2, "'x' is not a valid integer.");
    failed(unknown as RunResult, 2, "unknown command 'frobnicate'");
    failed(noRemoveName as RunResult, 2, "missing required argument 'cluster-name'");
  }, 40_000);

  it('configuration sources: PATRONICTL_CONFIG_FILE, ~/.config/patroni/patronictl.yaml; raft.password; an empty cluster', async () => {
    const [self] = await freeLoopbackAddresses(1);
    const dir = procs.dir();
    const node = config(
      dir,
      'node.yml',
      `raft:\n  self_addr: '${self}'\n  data_dir: ${join(dir, 'data')}\n  password: s3cret\n  min_timeout: 0.2\n  max_timeout: 0.4\n  append_entries_period: 0.05\n  connection_timeout: 1.5\n`,
    );
    procs.raftdcs(['controller', node, '--log-level', 'WARNING']);
    const good = `scope: batman\nraft:\n  self_addr: '${self}'\n  password: s3cret\n`;
    const viaEnv = config(dir, 'env.yml', good);
    const wrongPassword = config(
      dir,
      'wrong.yml',
      `scope: batman\nraft:\n  self_addr: '${self}'\n  password: nope\n`,
    );
    const home = join(dir, 'home');
    mkdirSync(join(home, '.config', 'patroni'), { recursive: true });
    writeFileSync(join(home, '.config', 'patroni', 'patronictl.yaml'), good);
    const [fromEnv, fromHome, wrong, showConfig] = await Promise.all([
      ctl(['list', '-f', 'json'], { env: { PATRONICTL_CONFIG_FILE: viaEnv } }),
      ctl(['list'], { env: { HOME: home, XDG_CONFIG_HOME: '' } }),
      ctl(['-c', wrongPassword, '--timeout', '2', 'list']),
      ctl(['show-config'], { env: { PATRONICTL_CONFIG_FILE: viaEnv } }),
    ]);
    expect(fromEnv?.code, fromEnv?.stderr).toBe(0);
    expect(fromEnv?.stdout).toBe('[]\n');
    expect(fromHome?.code, fromHome?.stderr).toBe(0);
    expect(fromHome?.stdout).toBe(
      '+ Cluster: batman (uninitialized) --+-----------+\n| Member | Host | Role | State | TL | Lag in MB |\n+--------+------+------+-------+----+-----------+\n+--------+------+------+-------+----+-----------+\n',
    );
    failed(wrong as RunResult, 1, 'Error: no Raft leader found within 2 s');
    failed(
      showConfig as RunResult,
      1,
      'Error: cluster batman has no dynamic configuration (no /service/batman/config key)',
    );
  }, 40_000);
});
