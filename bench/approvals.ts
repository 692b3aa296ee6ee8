/**
 * The approval flow of scenarios 1, 2, 6 and 8: submit a time entry (POST /v1/time-entries),
 * then approve it (POST /v1/time-entries/{id}/approve), each with its own Idempotency-Key, as
 * a coordinator. An "approval" is one such pair; the approvals-per-second figure counts 200s of
 * the approve request.
 */
import { closedLoop, openLoop, Recorder, round, type HttpClient } from './load.js';

export interface FlowTarget {
  client: HttpClient;
  headers: Record<string, string>;
  /** The contributor and budget of the next entry. */
  pick(): { contributorId: string; budgetId: string };
  /** Keeps this phase's idempotency keys apart from every other phase's. */
  keyPrefix: string;
}

export interface FlowResult {
  approvals: number;
  approvalsPerSecond: number;
  elapsedS: number;
  /** Non-2xx answers (and network failures) of either request. */
  errors: number;
  fiveHundreds: number;
  submit: ReturnType<Recorder['summary']>;
  approve: ReturnType<Recorder['summary']>;
  /** p99 over both requests. */
  p99AllMs: number;
  /** Paced runs: arrivals that found maxInFlight requests already running. */
  skipped?: number;
  targetRate?: number;
}

const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

function flow(target: FlowTarget, submit: Recorder, approve: Recorder) {
  let n = 0;
  const base = { ...target.headers };
  return async () => {
    const i = n++;
    const { contributorId, budgetId } = target.pick();
    const date = new Date(START + Math.floor(Math.random() * 320) * DAY).toISOString().slice(0, 10);
    const submitted = await target.client.request('POST', '/v1/time-entries', {
      headers: { ...base, 'idempotency-key': `${target.keyPrefix}-${i}-submit` },
      json: { contributorId, budgetId, activity: 'meeting', date, minutes: 60 },
    });
    submit.record(submitted, 201);
    if (submitted.status !== 201) return;
    const id = (JSON.parse(submitted.body) as { id: string }).id;
    const approved = await target.client.request('POST', `/v1/time-entries/${id}/approve`, {
      headers: { ...base, 'idempotency-key': `${target.keyPrefix}-${i}-approve` },
    });
    approve.record(approved, 200);
  };
}

function result(submit: Recorder, approve: Recorder, elapsedMs: number): FlowResult {
  const both = new Recorder();
  both.histogram.add(submit.histogram);
  both.histogram.add(approve.histogram);
  both.count = submit.count + approve.count;
  const approvals = approve.ok(200);
  return {
    approvals,
    approvalsPerSecond: round(approvals / (elapsedMs / 1000), 1),
    elapsedS: round(elapsedMs / 1000),
    errors: submit.errors(201) + approve.errors(200),
    fiveHundreds: submit.fiveHundreds() + approve.fiveHundreds(),
    submit: submit.summary(201),
    approve: approve.summary(200),
    p99AllMs: round(both.p(99)),
  };
}

/** As fast as `concurrency` clients can go (closed loop). */
export async function approvalPeak(target: FlowTarget, concurrency: number, durationMs: number): Promise<FlowResult> {
  const submit = new Recorder();
  const approve = new Recorder();
  const iteration = flow(target, submit, approve);
  const { elapsedMs } = await closedLoop({ concurrency, durationMs, iteration: () => iteration() });
  return result(submit, approve, elapsedMs);
}

/** At a steady `rate` of approvals a second (open loop), for the latency at that load. */
export async function approvalPaced(target: FlowTarget, rate: number, durationMs: number, maxInFlight: number): Promise<FlowResult> {
  const submit = new Recorder();
  const approve = new Recorder();
  const iteration = flow(target, submit, approve);
  const { elapsedMs, skipped } = await openLoop({ ratePerSecond: rate, durationMs, maxInFlight, iteration });
  return { ...result(submit, approve, elapsedMs), skipped, targetRate: round(rate, 1) };
}
