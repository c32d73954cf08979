/**
 * `raftdcs demo` as the tests run it: the built program (`npm start`'s `dist/cli/main.js`) as a
 * child whose stdout is not a terminal (one summary line a second), with a bounded wait for a line
 * that matches, and every child killed after each test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach } from 'vitest';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

export interface DemoRun {
  readonly child: ChildProcess;
  /** stdout lines, and stderr chunks prefixed with `stderr: ` */
  readonly lines: string[];
  /** the first line (already seen or to come) matching `re`; fails after `ms` with the last lines */
  waitLine(re: RegExp | ((line: string) => boolean), ms: number): Promise<string>;
  /** the exit code */
  readonly exited: Promise<number | null>;
}

/** Children started through the returned function are SIGKILLed after each test. */
export function useDemoRuns(): (args: readonly string[]) => DemoRun {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  return (args) => {
    const child = spawn(process.execPath, [MAIN, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return watchLines(child);
  };
}

function watchLines(child: ChildProcess): DemoRun {
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const offer = (l: string) => {
    lines.push(l);
    for (const w of [...waiters]) {
      if (w.match(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', offer);
  child.stderr?.on('data', (d: Buffer) => offer(`stderr: ${d}`));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    lines,
    exited,
    waitLine: (re, ms) =>
      new Promise((resolve, reject) => {
        const match = typeof re === 'function' ? re : (l: string) => re.test(l);
        const hit = lines.find(match);
        if (hit) return resolve(hit);
        const t = setTimeout(
          () => reject(new Error(`no line matching ${re} within ${ms} ms:\n${lines.slice(-40).join('\n')}`)),
          ms,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      }),
  };
}
