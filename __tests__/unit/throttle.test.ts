import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { throttle } from '../../src/core/throttle.ts';

beforeEach(() => vi.useFakeTimers({ now: 1_000 }));
afterEach(() => vi.useRealTimers());

test('due once per whole interval, counted from creation and from each due or restart', () => {
  const update = throttle(5_000);
  const at = (ms: number) => {
    vi.setSystemTime(ms);
    return update.due();
  };
  expect([at(1_000), at(5_999), at(6_000), at(10_999), at(11_000)]).toEqual([false, false, true, false, true]);
  vi.setSystemTime(14_000);
  update.restart();
  expect([at(16_000), at(18_999), at(19_000)]).toEqual([false, false, true]);
});
