/**
 * raftdcs as a user gets it: the package is built and packed (`npm pack`, with the `files` and
 * `exports` of package.json), the tarball is installed into an empty project, and there
 * - `tsc` type-checks the README's library example (`examples/kv-cluster.ts`) against the
 *   installed declarations, and the compiled example runs: a 3-node in-process KV cluster;
 * - `import('raftdcs')` gives the public API and nothing internal;
 * - `npx raftdcs --help` runs the installed bin.
 *
 * The build goes to a staging folder, not the repository's `dist/` (other tests may run the
 * compiled CLI from there at the same time). The install uses npm's cache first (`npm ci` filled
 * it); it reaches the registry only for a dependency missing from the cache.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
const EXAMPLE = join(REPO, 'examples/kv-cluster.ts');

let work = '';
let project = '';

async function sh(cmd: string, args: string[], cwd: string, timeoutMs = 120_000) {
  try {
    return await run(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env } });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`,
    );
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'raftdcs-pack-'));
  const stage = join(work, 'stage');
  mkdirSync(stage);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'docs']) {
    try {
      cpSync(join(REPO, f), join(stage, f), { recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  await sh(
    process.execPath,
    [TSC, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')],
    REPO,
  );
  // the build is done: pack what package.json's `files` selects, as `npm publish` would
  await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', work], stage);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack made no tarball in ${work}`);

  project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await sh(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, tarball)],
    project,
    300_000,
  );
}, 420_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package, installed into an empty project', () => {
  it('the tarball holds the build, the README and the docs, and no sources or tests', () => {
    const root = join(project, 'node_modules/raftdcs');
    const top = readdirSync(root).sort();
    expect(top).toEqual(expect.arrayContaining(['README.md', 'dist', 'docs', 'package.json']));
    expect(top).not.toContain('src');
    expect(top).not.toContain('test');
    expect(readdirSync(join(root, 'dist'))).toEqual(
      expect.arrayContaining(['index.js', 'index.d.ts', 'cli']),
    );
  });

  it("the README's library example is examples/kv-cluster.ts", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Using it as a library'));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBe(readFileSync(EXAMPLE, 'utf8'));
  });

  it('the example type-checks against the installed declarations and runs a 3-node cluster', async () => {
    cpSync(EXAMPLE, join(project, 'kv-cluster.ts'));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          types: ['node'],
          typeRoots: [join(REPO, 'node_modules/@types')],
          outDir: 'out',
        },
        files: ['kv-cluster.ts'],
      }),
    );
    await sh(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
    const { stdout } = await sh(process.execPath, ['out/kv-cluster.js'], project, 60_000);
    expect(stdout.split('\n')).toEqual([
      'pg1 takes the lock: true',
      'pg2 takes the lock: false',
      'pg1 refreshes it: true',
      'the lock on each node: pg1, pg1, pg1',
      '',
    ]);
  }, 120_000);

  it('a type error in a consumer is reported by tsc (the declarations are really used)', async () => {
    writeFileSync(
      join(project, 'wrong.ts'),
      "import { KVStoreTTL } from 'raftdcs';\nconst kv = new KVStoreTTL({ selfAddr: 1, partnerAddrs: [] });\nvoid kv;\n",
    );
    const tsconfig = JSON.parse(readFileSync(join(project, 'tsconfig.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    writeFileSync(join(project, 'tsconfig.wrong.json'), JSON.stringify({ ...tsconfig, files: ['wrong.ts'] }));
    await expect(
      sh(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.wrong.json'], project),
    ).rejects.toThrow(
      /wrong\.ts\(2,[0-9]+\): error TS2322: Type 'number' is not assignable to type 'string'/,
    );
  }, 60_000);

  it('import("raftdcs") gives the public API and keeps internals out', async () => {
    const script = "const m = await import('raftdcs'); console.log(JSON.stringify(Object.keys(m).sort()));";
    const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', script], project);
    const names = JSON.parse(stdout) as string[];
    for (const name of [
      'SyncObj',
      'SyncObjConsumer',
      'SyncObjConf',
      'replicated',
      'KVStoreTTL',
      'RaftDcs',
      'AbstractDcs',
      'Cluster',
      'Member',
      'Leader',
      'ClusterConfig',
      'Failover',
      'SyncState',
      'TimelineHistory',
      'Status',
      'SyncObjError',
      'DCSError',
      'RaftError',
      'ConfigError',
      'WireError',
      'TransportError',
      'RaftdcsError',
      'RuntimeFailReason',
      'MemoryJournal',
      'MemoryDumpStore',
      'MemoryNetwork',
    ]) {
      expect(names).toContain(name);
    }
    for (const internal of ['RaftCore', 'RaftDriver', 'KvStateMachine', 'encodePickle', 'UNKNOWN_OUTCOME']) {
      expect(names).not.toContain(internal);
    }
    // a deep import of an internal module is refused by the exports map
    await expect(
      sh(
        process.execPath,
        ['--input-type=module', '-e', "await import('raftdcs/dist/raft/core/core.js')"],
        project,
      ),
    ).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('npx raftdcs --help runs the installed bin', async () => {
    const { stdout } = await sh('npx', ['--no-install', 'raftdcs', '--help'], project);
    expect(stdout).toMatch(/controller/);
    expect(stdout).toMatch(/admin/);
    expect(stdout).toMatch(/ctl/);
  });
});
