/**
 * `npm start` (raftdcs demo, built): a leader shows within 5 s, SIGINT stops everything with exit
 * 0, and starting again keeps the data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { useDemoRuns } from './demo-run.js';

const demo = useDemoRuns();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const startDemo = (dir: string, ports: number[]) => demo(['--dir', dir, '--ports', ports.join(',')]);

describe('npm start (raftdcs demo)', () => {
  it('shows a leader within 5 s, stops on SIGINT with exit 0, keeps the data', {
    timeout: 90_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-demo-'));
    dirs.push(dir);
    const ports = await freePorts(3);
    const t0 = performance.now();
    const run = startDemo(dir, ports);
    const line = await run.waitLine(/leader=127\.0\.0\.1:\d+/, 5000);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(ports.map((p) => `127.0.0.1:${p}`)).toContain(/leader=(\S+)/.exec(line)?.[1]);
    await run.waitLine(/writes=[1-9]/, 20_000);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.lines.join('\n')).toMatch(/data is kept/);
    const before = Math.max(...run.lines.map((l) => Number(/commit=(\d+)/.exec(l)?.[1] ?? 0)));
    // again: the cluster comes back with its log
    const again = startDemo(dir, ports);
    const l2 = await again.waitLine(/leader=127\.0\.0\.1:\d+ term=\d+ commit=\d+/, 20_000);
    expect(Number(/commit=(\d+)/.exec(l2)?.[1])).toBeGreaterThanOrEqual(before);
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
  });

  it('refuses ports that are in use, naming them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-demo-'));
    dirs.push(dir);
    const ports = await freePorts(3);
    const first = startDemo(dir, ports);
    // a leader: at least two of the three nodes are listening (the first line, leader=none, can come
    // before any of them is)
    await first.waitLine(/leader=127\.0\.0\.1/, 20_000);
    const second = startDemo(join(dir, 'other'), ports);
    expect(await second.exited).toBe(1);
    expect(second.lines.join('\n')).toMatch(new RegExp(`port (${ports.join('|')}) on 127.0.0.1 is in use`));
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
  });
});
