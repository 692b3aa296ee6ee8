import { mock } from 'node:test';
import t from 'tap';
import { createPacer } from '../src/lib/rate-limit.js';

// Node's mock timers (setTimeout and Date) make the pacer's schedule exact and independent of
// how busy the machine is: time moves one millisecond at a time, and every promise chain ready
// at that millisecond runs before the next.
mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
t.teardown(() => mock.timers.reset());

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Queues `calls` calls at once and advances time until all have started; returns their start times. */
async function saturate(perSecond: number, calls: number, budgetMs: number): Promise<number[]> {
  const pace = createPacer(perSecond);
  const origin = Date.now();
  const starts: number[] = [];
  const done = Array.from({ length: calls }, () =>
    pace(async () => {
      starts.push(Date.now() - origin);
    }),
  );
  for (let elapsed = 0; starts.length < calls && elapsed <= budgetMs; elapsed++) {
    await flush();
    mock.timers.tick(1);
  }
  await flush();
  // Every call has started, or the pacer stalled: fail here rather than wait on the promises.
  if (starts.length < calls) throw new Error(`only ${starts.length} of ${calls} calls started within ${budgetMs} ms`);
  await Promise.all(done);
  return starts;
}

function maxInAnyWindow(starts: number[], windowMs: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (starts[i]! - starts[j]! >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

for (const perSecond of [97, 24, 7]) {
  t.test(`saturated at ${perSecond}/s: the limit is reached, never exceeded, and spread out`, async (t) => {
    const seconds = 3;
    const starts = await saturate(perSecond, perSecond * seconds + 1, (seconds + 1) * 1000);
    t.equal(starts.length, perSecond * seconds + 1, 'every call started');
    t.ok(maxInAnyWindow(starts, 1000) <= perSecond, `no one-second window holds more than ${perSecond} starts`);
    // Whole seconds' worth of calls take whole seconds: call n × perSecond + 1 starts n seconds in,
    // not later (p-throttle's strict mode alone started it 134 ms late per two seconds at 97/s).
    t.equal(starts[perSecond * seconds], seconds * 1000, `call ${perSecond * seconds + 1} starts at ${seconds} s exactly`);
    const gaps = starts.slice(1).map((start, i) => start - starts[i]!);
    t.ok(Math.min(...gaps) >= Math.floor(1000 / perSecond), `starts at least ${Math.floor(1000 / perSecond)} ms apart`);
  });
}

t.test('an idle pacer starts a call at once', async (t) => {
  const pace = createPacer(5);
  const before = Date.now();
  let startedAt: number | undefined;
  await pace(async () => {
    startedAt = Date.now();
  });
  t.equal(startedAt, before);
});

t.test("a call's result and failure reach the caller", async (t) => {
  const pace = createPacer(50);
  t.equal(await pace(async () => 42), 42);
  const pending = pace(async () => {
    throw new Error('refused');
  });
  for (let i = 0; i < 100; i++) mock.timers.tick(1);
  await t.rejects(pending, /refused/);
});

t.test('a limit that is not a positive whole number is refused', async (t) => {
  for (const bad of [0, -1, 2.5, Number.NaN]) t.throws(() => createPacer(bad), RangeError, String(bad));
});
