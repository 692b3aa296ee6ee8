/**
 * The benchmark's sorting of PostgreSQL's perf samples (bench/perf.ts, BENCH_PERF=1): a sample
 * goes to the first bucket any of its frames belongs to, other commands' samples are left out,
 * and unnamed frames count as other. And the recording's failures: a perf that is missing, not
 * allowed, or whose samples cannot be read gives no profile, and leaves no file behind.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { bucketOfStack, POSTGRES_BUCKETS, profileFromPerfScript, startPerf } from '../bench/perf.js';

/**
 * `perf script -F comm,ip,sym` as perf 6 writes it: the command and a space, a line a frame
 * (innermost first: a tab, the address right-aligned in 16, the symbol with its offset), a blank line.
 */
const sample = (comm: string, ...frames: string[]) => [`${comm} `, ...frames.map((f, i) => `\t${(0x55f29e000000 + i * 0x1f3).toString(16).padStart(16)} ${f}`), ''];

t.test('a sample goes to the first bucket on its stack, whatever the depth', async (t) => {
  const index = (bucket: string) => POSTGRES_BUCKETS.findIndex((b) => b.bucket === bucket);
  // A foreign-key check starts an executor of its own: it counts as the check.
  t.equal(bucketOfStack(['ExecInitNode', 'standard_ExecutorStart', 'SPI_execute_snapshot', 'RI_FKey_check_ins', 'AfterTriggerEndQuery', 'PortalRun']), index('foreign-key checks'));
  t.equal(bucketOfStack(['_bt_doinsert', 'btinsert', 'ExecInsertIndexTuples', 'ExecModifyTable', 'standard_ExecutorRun']), index('index inserts'));
  t.equal(bucketOfStack(['iowrite16', 'fdatasync', 'XLogFlush', 'RecordTransactionCommit', 'CommitTransaction']), index('WAL write and flush'));
  t.equal(bucketOfStack(['_int_malloc', '[unknown]']), -1);
});

t.test('a frame is named without its offset', async (t) => {
  const profile = await profileFromPerfScript(sample('postgres', 'ExecScan+0x1c', 'RI_FKey_check_ins+0x2a', 'AfterTriggerEndQuery+0x91', '[unknown]'));
  t.same(profile.buckets, [{ bucket: 'foreign-key checks', percent: 100 }]);
});

t.test('a profile counts only the command asked for, and its shares add up', async (t) => {
  const lines = [
    ...sample('postgres', 'ExecInitNode', 'standard_ExecutorStart', 'PortalStart', 'PostgresMain'),
    ...sample('postgres', 'ExecInitNode', 'standard_ExecutorStart', 'PortalStart', 'PostgresMain'),
    ...sample('postgres', 'json_lex', 'jsonb_in', 'OidInputFunctionCall', 'PostgresMain'),
    ...sample('postgres', 'hash_search_with_hash_value+0x1f', '[unknown]'),
    ...sample('node', 'Builtins_JSONParse', 'ExecInitNode'),
  ];
  const profile = await profileFromPerfScript(lines, 'postgres', 999);
  t.equal(profile.samples, 4, "node's sample is not PostgreSQL's");
  t.same(profile.buckets, [
    { bucket: 'executor start-up', percent: 50 },
    { bucket: 'parameters and values parsed (jsonb_in, …)', percent: 25 },
    { bucket: 'other', percent: 25 },
  ]);
  t.equal(profile.frequencyHz, 999);
});

t.test('a profile of no samples is empty, not a division by nought', async (t) => {
  const profile = await profileFromPerfScript(sample('node', 'main'), 'postgres');
  t.same(profile, { samples: 0, frequencyHz: 0, buckets: [] });
});

/**
 * A stand-in for perf on PATH, doing what the mode file says: `refuse` as perf does without the
 * right to sample everything; otherwise `record` samples until SIGINT, then writes its file and
 * ends by SIGTERM, as perf does with a workload to end, and `script` prints the samples
 * (`broken`: fails instead).
 */
function fakePerf(t: Test, mode: 'refuse' | 'works' | 'broken', samples: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'fake-perf-'));
  writeFileSync(join(dir, 'samples.txt'), samples.join('\n') + '\n');
  writeFileSync(
    join(dir, 'perf'),
    `#!/bin/sh
case "$1" in
record)
  [ "${mode}" = refuse ] && { echo "Access to performance monitoring is limited (perf_event_paranoid 4)" >&2; exit 255; }
  prev=""; for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
  trap 'echo samples > "$out"; trap - TERM; kill -TERM $$' INT
  while true; do sleep 0.05; done ;;
script)
  [ "${mode}" = broken ] && { echo "perf.data is not a perf file" >&2; exit 3; }
  cat "${dir}/samples.txt" ;;
esac
`,
  );
  chmodSync(join(dir, 'perf'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}:${path}`;
  t.teardown(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });
  return join(dir, 'perf-scenario1.data');
}

t.test('a perf that records and reads back gives the profile, and leaves no file', async (t) => {
  const dataFile = fakePerf(t, 'works', [...sample('postgres', 'XLogFlush', 'CommitTransactionCommand'), ...sample('node', 'uv_run')]);
  const reasons: string[] = [];
  const perf = await startPerf(dataFile, (why) => reasons.push(why), { maxSeconds: 60 });
  t.ok(perf, 'perf started');
  const profile = await perf!.stop();
  t.same(profile, { samples: 1, frequencyHz: 999, buckets: [{ bucket: 'WAL write and flush', percent: 100 }] });
  t.same(reasons, []);
  t.notOk(existsSync(dataFile), 'the samples file is removed once read');
});

t.test('a cancelled recording ends perf and leaves no file', async (t) => {
  const dataFile = fakePerf(t, 'works', sample('postgres', 'XLogFlush'));
  const reasons: string[] = [];
  const perf = await startPerf(dataFile, (why) => reasons.push(why), { maxSeconds: 60 });
  writeFileSync(dataFile, 'samples so far');
  await perf!.cancel();
  t.notOk(existsSync(dataFile), 'the samples are thrown away');
  t.same(reasons, []);
});

t.test('a perf that may not sample everything gives no profile, and says why', async (t) => {
  const dataFile = fakePerf(t, 'refuse', []);
  const reasons: string[] = [];
  t.equal(await startPerf(dataFile, (why) => reasons.push(why), { maxSeconds: 60 }), null);
  t.match(reasons, [/perf record did not start \(Access to performance monitoring is limited/]);
});

t.test('samples perf cannot read back are no profile, not an empty one', async (t) => {
  const dataFile = fakePerf(t, 'broken', []);
  const reasons: string[] = [];
  const perf = await startPerf(dataFile, (why) => reasons.push(why), { maxSeconds: 60 });
  t.equal(await perf!.stop(), null);
  t.match(reasons, [/perf script ended with 3: perf\.data is not a perf file/]);
  t.notOk(existsSync(dataFile));
});

t.test('a recording that saw no PostgreSQL process is no profile either', async (t) => {
  const dataFile = fakePerf(t, 'works', sample('node', 'uv_run'));
  const reasons: string[] = [];
  const perf = await startPerf(dataFile, (why) => reasons.push(why), { maxSeconds: 60 });
  t.equal(await perf!.stop(), null);
  t.same(reasons, ['perf recorded no samples of PostgreSQL']);
});

t.test('without perf at all, the run goes on without a profile', async (t) => {
  const path = process.env.PATH;
  process.env.PATH = mkdtempSync(join(tmpdir(), 'no-perf-'));
  t.teardown(() => {
    rmSync(process.env.PATH!, { recursive: true, force: true });
    process.env.PATH = path;
  });
  const reasons: string[] = [];
  t.equal(await startPerf(join(tmpdir(), 'never-written.data'), (why) => reasons.push(why), { maxSeconds: 60 }), null);
  t.match(reasons, [/perf record did not start \(.*ENOENT/]);
});
