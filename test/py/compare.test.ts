/**
 * src/py/compare.ts against Debian's Python: `sorted()` of strings is code-point order, which
 * JavaScript's default sort (UTF-16 units) is not once astral characters meet U+E000…U+FFFF.
 */
import { describe, expect, it } from 'vitest';
import { pySorted, pyStrCompare } from '../../src/py/compare.js';
import { compareAddresses } from '../../src/raft/transport/address.js';
import { describeDebianPython } from '../helpers/python.js';
import { askPython } from './oracle.js';

describe('py/compare: fixed expectations', () => {
  it('orders by code point, not by UTF-16 unit', () => {
    expect('\u{1F600}' < '\uFF5E').toBe(true); // JavaScript
    expect(pyStrCompare('\u{1F600}', '\uFF5E')).toBe(1); // Python: '\U0001f600' > '\uff5e'
    expect(pyStrCompare('a', 'ab')).toBe(-1);
    expect(pyStrCompare('x', 'x')).toBe(0);
    expect(pyStrCompare('\ud800', '\ue000')).toBe(-1); // a lone surrogate is the code point D800
    expect(pySorted(['b', '\uFF5E', '\u{1F600}', 'a'])).toEqual(['a', 'b', '\uFF5E', '\u{1F600}']);
    expect(compareAddresses('127.0.0.1:2', '127.0.0.1:10')).toBe(1);
  });
});

describeDebianPython('py/compare against Debian Python', () => {
  it('sorted() of 3000 random strings over ASCII, BMP, surrogates and astral characters', () => {
    const pool = ['a', 'b', 'Z', '0', ':', '\x00', '\xe9', '\u4e2d', '\ud7ff', '\ue000', '\uff5e', '\uffff'];
    pool.push('\u{10000}', '\u{1F600}', '\u{10FFFF}', '\ud800', '\udfff');
    const strs: string[] = [];
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const n = Math.floor(Math.random() * 5);
      for (let j = 0; j < n; j++) s += pool[Math.floor(Math.random() * pool.length)];
      strs.push(s);
    }
    // two lone surrogates next to each other may form a pair in JS; Python keeps them apart
    const clean = strs.filter(
      (s) => !/[\ud800-\udbff][\udc00-\udfff]/.test(s.replace(/[\u{10000}-\u{10FFFF}]/gu, '')),
    );
    const py = askPython<string[]>('result = sorted(data)', clean);
    expect(pySorted(clean)).toEqual(py);
  });
});
