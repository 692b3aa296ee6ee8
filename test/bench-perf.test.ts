/**
 * The benchmark's sorting of PostgreSQL's perf samples (bench/perf.ts, BENCH_PERF=1): a sample
 * goes to the first bucket any of its frames belongs to, other commands' samples are left out,
 * and unnamed frames count as other.
 */
import t from 'tap';
import { bucketOfStack, POSTGRES_BUCKETS, profileFromPerfScript } from '../bench/perf.js';

/** `perf script -F comm,ip,sym` as perf writes it: the command, a line a frame (innermost first), a blank line. */
const sample = (comm: string, ...frames: string[]) => [comm.padStart(16), ...frames.map((f, i) => `\t${(0x1000 + i).toString(16)} ${f}`), ''];

t.test('a sample goes to the first bucket on its stack, whatever the depth', async (t) => {
  const index = (bucket: string) => POSTGRES_BUCKETS.findIndex((b) => b.bucket === bucket);
  // A foreign-key check starts an executor of its own: it counts as the check.
  t.equal(bucketOfStack(['ExecInitNode', 'standard_ExecutorStart', 'SPI_execute_snapshot', 'RI_FKey_check_ins', 'AfterTriggerEndQuery', 'PortalRun']), index('foreign-key checks'));
  t.equal(bucketOfStack(['_bt_doinsert', 'btinsert', 'ExecInsertIndexTuples', 'ExecModifyTable', 'standard_ExecutorRun']), index('index inserts'));
  t.equal(bucketOfStack(['iowrite16', 'fdatasync', 'XLogFlush', 'RecordTransactionCommit', 'CommitTransaction']), index('WAL write and flush'));
  t.equal(bucketOfStack(['_int_malloc', '[unknown]']), -1);
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
