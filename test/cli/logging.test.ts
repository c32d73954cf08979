/**
 * CLI logging (src/cli/logging.ts): Patroni/Python level names, JSON vs pretty choice, and level
 * changes reaching the child loggers handed to the runtime (pino children do not follow their
 * parent by themselves). In-process, into a memory stream.
 */

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogging, parseLogLevel } from '../../src/cli/logging.js';
import type { Logger } from '../../src/logger.js';

function memory(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

describe('CLI logging', () => {
  it('level names: Python (DEBUG, WARNING, CRITICAL, NOTSET, numbers) and pino (trace, silent)', () => {
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(parseLogLevel(' info ')).toBe('info');
    expect(parseLogLevel('WARNING')).toBe('warn');
    expect(parseLogLevel('warn')).toBe('warn');
    expect(parseLogLevel('CRITICAL')).toBe('fatal');
    expect(parseLogLevel('NOTSET')).toBe('trace');
    expect(parseLogLevel('10')).toBe('debug');
    expect(parseLogLevel('30')).toBe('warn');
    expect(parseLogLevel('50')).toBe('fatal');
    expect(parseLogLevel('silent')).toBe('silent');
    expect(parseLogLevel('LOUD')).toBeNull();
  });

  it('JSON lines when not a terminal; a level change reaches the children (the raft logger)', () => {
    const m = memory();
    const logging = createLogging({ level: 'info', destination: m.stream, isTTY: false });
    expect(logging.json).toBe(true);
    const raft: Logger = logging.child({ component: 'raft' });
    raft.debug({ n: 1 }, 'hidden');
    raft.info({ n: 2 }, 'shown');
    logging.setLevel('debug');
    raft.debug({ n: 3 }, 'now shown');
    logging.logger.debug('root too');
    logging.setLevel('error');
    raft.warn({ n: 4 }, 'hidden again');
    const lines = m
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.msg)).toEqual(['shown', 'now shown', 'root too']);
    expect(lines[0]).toMatchObject({ name: 'raftdcs', component: 'raft', n: 2, level: 30 });
  });

  it('pretty output when forced (or on a terminal)', () => {
    const m = memory();
    const logging = createLogging({ level: 'info', format: 'pretty', destination: m.stream, isTTY: false });
    expect(logging.json).toBe(false);
    logging.logger.info({ selfAddr: '127.0.0.1:1' }, 'hello');
    expect(m.text()).toMatch(/INFO.*hello/);
    expect(m.text()).toContain('selfAddr: "127.0.0.1:1"');
    expect(m.text().startsWith('{')).toBe(false);
  });
});
