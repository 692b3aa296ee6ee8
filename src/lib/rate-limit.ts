import pThrottle from 'p-throttle';

/** Runs a call when the pacer allows it; resolves or rejects with the call's own result. */
export type Paced = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * Paces calls to an API with a per-second request limit: at most `perSecond` calls start in any
 * one-second window (a sliding window over the times calls actually started), and consecutive
 * calls start at least floor(1000 / perSecond) ms apart, so the load is spread rather than sent
 * in one burst at the start of each second.
 *
 * Why two p-throttle stages rather than its strict mode alone: once its queue is full, strict
 * mode spaces calls ceil(1000 / limit) ms apart, and whole milliseconds cannot express 1000/97 ms;
 * at 97 a second it settled at 11 ms, 90.9 calls a second. Here the spacing is rounded down
 * (never the binding limit) and the window count is exact, so a saturated pacer runs at the
 * limit. Both stages use p-throttle's weighted strict mode, which re-checks against the calls
 * that really started when each call's timer fires, so late timers (a busy event loop) can
 * neither overfill a window nor bunch calls closer than the spacing.
 */
export function createPacer(perSecond: number): Paced {
  if (!Number.isInteger(perSecond) || perSecond < 1) throw new RangeError(`perSecond must be a positive integer, got ${perSecond}`);
  const window = pThrottle({ limit: perSecond, interval: 1000, strict: true, weight: () => 1 });
  const spacing = pThrottle({ limit: 1, interval: Math.floor(1000 / perSecond), strict: true, weight: () => 1 });
  const inWindow = window(<T>(fn: () => Promise<T>) => fn());
  const spaced = spacing(<T>(fn: () => Promise<T>) => inWindow(fn));
  return <T>(fn: () => Promise<T>) => spaced(fn) as Promise<T>;
}
