import { describe, expect, it } from 'vitest';
import { buildTarget, parseAbsoluteTarget } from '../../src/core/target.js';
import { TargetCache } from '../../src/core/target-cache.js';

/** A cache hit must answer exactly what a fresh parse would, for every input that differs. */
describe('TargetCache', () => {
  it('answers an absolute URL asked with another method for that method', () => {
    const cache = new TargetCache();
    const url = 'https://app.example.com/a/../b?x=1';
    const get = cache.absolute(url, 'GET');
    expect(cache.absolute(url, 'GET')).toBe(get);
    const del = cache.absolute(url, 'DELETE');
    expect(del).toEqual(parseAbsoluteTarget(url, 'DELETE'));
    expect(del.ok && del.target.method).toBe('DELETE');
  });

  it('keys a split target by scheme, Host and method as well as the path', () => {
    const cache = new TargetCache();
    for (const [scheme, host, method] of [
      ['https', 'app.example.com', 'GET'],
      ['http', 'app.example.com', 'GET'],
      ['https', 'other.example.com', 'GET'],
      ['https', 'app.example.com', 'POST'],
    ] as const) {
      expect(cache.build(scheme, host, '/x', method)).toEqual(
        buildTarget(scheme, host, '/x', method),
      );
      expect(cache.build(scheme, host, '/x', method)).toEqual(
        buildTarget(scheme, host, '/x', method),
      );
    }
  });

  it('keeps no failed parse and no over-long input, and freezes what it keeps', () => {
    const cache = new TargetCache();
    expect(cache.absolute('javascript:alert(1)', 'GET').ok).toBe(false);
    const long = `https://app.example.com/${'a'.repeat(2000)}`;
    expect(cache.absolute(long, 'GET')).not.toBe(cache.absolute(long, 'GET'));
    const kept = cache.absolute('https://app.example.com/', 'GET');
    expect(Object.isFrozen(kept)).toBe(true);
    expect(kept.ok && Object.isFrozen(kept.target)).toBe(true);
  });

  it('stays bounded: the oldest URL goes first', () => {
    const cache = new TargetCache();
    const first = cache.absolute('https://app.example.com/0', 'GET');
    for (let i = 1; i <= 1024; i++) cache.absolute(`https://app.example.com/${i}`, 'GET');
    expect(cache.absolute('https://app.example.com/0', 'GET')).not.toBe(first);
    expect(cache.absolute('https://app.example.com/1024', 'GET')).toBe(
      cache.absolute('https://app.example.com/1024', 'GET'),
    );
  });
});
