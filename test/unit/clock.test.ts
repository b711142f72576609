import { describe, expect, it } from 'vitest';
import { ManualClock, systemTimers } from '../../src/core/clock.js';

describe('ManualClock timers', () => {
  it('fires a timer when advance passes its time, not before, with the time it was due', () => {
    const clock = new ManualClock(1000);
    const fired: number[] = [];
    clock.start(50, (arg: string) => fired.push(clock.now() + arg.length), 'x');
    clock.advance(49);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([1051]);
    clock.advance(1000);
    expect(fired).toEqual([1051]);
    expect(clock.timers).toBe(0);
  });

  it('fires timers in due order within one advance, at their own times', () => {
    const clock = new ManualClock(0);
    const order: [string, number][] = [];
    clock.start(30, (n: string) => order.push([n, clock.now()]), 'c');
    clock.start(10, (n: string) => order.push([n, clock.now()]), 'a');
    clock.start(20, (n: string) => order.push([n, clock.now()]), 'b');
    clock.advance(100);
    expect(order).toEqual([
      ['a', 10],
      ['b', 20],
      ['c', 30],
    ]);
    expect(clock.now()).toBe(100);
  });

  it('refresh starts the wait again from now, also after firing; close stops it for good', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    const timer = clock.start(10, () => fired++, null);
    clock.advance(9);
    timer.refresh();
    clock.advance(9);
    expect(fired).toBe(0);
    clock.advance(1);
    expect(fired).toBe(1);
    timer.refresh();
    clock.advance(10);
    expect(fired).toBe(2);
    timer.refresh();
    timer.close();
    clock.advance(100);
    timer.refresh();
    clock.advance(100);
    expect(fired).toBe(2);
    expect(clock.timers).toBe(0);
  });

  it('fires a timer started by another timer in the same advance when it falls due inside it', () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    clock.start(
      10,
      () => {
        seen.push(clock.now());
        clock.start(5, () => seen.push(clock.now()), null);
      },
      null,
    );
    clock.advance(20);
    expect(seen).toEqual([10, 15]);
  });

  it('systemTimers behaves the same: Node timers refresh after firing and stay closed', async () => {
    let fired = 0;
    const timer = systemTimers.start(5, () => fired++, null);
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(1);
    timer.refresh();
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(2);
    timer.close();
    timer.refresh();
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(2);
  });
});
