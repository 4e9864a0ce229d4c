import { describe, expect, it } from 'vitest';
import { OrderedLanes } from '../../src/runtime/ordered-lanes.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ordered lanes', () => {
  it('runs one key in order and different keys concurrently, within the concurrency bound', async () => {
    const lanes = new OrderedLanes(3, 1000);
    const seen = new Map<string, number[]>();
    let running = 0;
    let peak = 0;
    for (let i = 0; i < 60; i++) {
      const key = `k${i % 6}`;
      lanes.push(key, async () => {
        running++; peak = Math.max(peak, running);
        await tick(Math.random() * 3);
        seen.set(key, [...(seen.get(key) ?? []), i]);
        running--;
      });
    }
    await lanes.whenIdle();
    expect(peak).toBe(3);
    for (const [, order] of seen) expect(order).toEqual([...order].sort((a, b) => a - b));
    expect([...seen.values()].flat()).toHaveLength(60);
  });

  it('applies back-pressure at maxQueued and keeps going after a task throws', async () => {
    const lanes = new OrderedLanes(1, 2);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    lanes.push('a', () => gate);
    lanes.push('a', () => Promise.reject(new Error('boom')));
    let admitted = false;
    const capacity = lanes.whenCapacity().then(() => { admitted = true; });
    await tick(5);
    expect(admitted).toBe(false);
    release();
    await capacity;
    let ran = false;
    lanes.push('a', async () => { ran = true; });
    await lanes.whenIdle();
    expect(ran).toBe(true);
  });
});
