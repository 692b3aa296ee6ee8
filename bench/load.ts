/**
 * A small HTTP load driver for flows autocannon cannot express well (a request whose URL comes
 * from the previous response, latency per kind of request, a steady open-loop arrival rate):
 * keep-alive node:http, bounded concurrency, latencies in perf_hooks histograms.
 */
import { Agent, request as httpRequest } from 'node:http';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

export interface HttpResponse {
  status: number;
  body: string;
  ms: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  json?: unknown;
}

export class HttpClient {
  readonly host: string;
  readonly port: number;
  private readonly agent: Agent;

  constructor(baseUrl: string, maxSockets = 256) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** Never rejects: a network failure is status 0 with the error message as body. */
  request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const headers: Record<string, string | number> = { ...options.headers };
    let payload: string | undefined;
    if (options.json !== undefined) {
      payload = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const started = performance.now();
    return new Promise((resolve) => {
      const req = httpRequest({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
        res.on('error', (error) => resolve({ status: 0, body: String(error), ms: performance.now() - started }));
      });
      req.on('error', (error) => resolve({ status: 0, body: String(error), ms: performance.now() - started }));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  close() {
    this.agent.destroy();
  }
}

/** Latencies and statuses of one kind of request. */
export class Recorder {
  readonly histogram: RecordableHistogram = createHistogram();
  count = 0;
  readonly statuses = new Map<number, number>();
  readonly errorSamples: string[] = [];

  record(response: HttpResponse, expected: number) {
    this.count += 1;
    // Microseconds, so sub-millisecond latencies keep their resolution.
    this.histogram.record(Math.max(1, Math.round(response.ms * 1000)));
    this.statuses.set(response.status, (this.statuses.get(response.status) ?? 0) + 1);
    if (response.status !== expected && this.errorSamples.length < 5) {
      this.errorSamples.push(`${response.status}: ${response.body.slice(0, 300)}`);
    }
  }

  ok(expected: number): number {
    return this.statuses.get(expected) ?? 0;
  }

  /** Responses that are not the expected status (network failures count as status 0). */
  errors(expected: number): number {
    return this.count - this.ok(expected);
  }

  fiveHundreds(): number {
    let n = 0;
    for (const [status, count] of this.statuses) if (status >= 500 || status === 0) n += count;
    return n;
  }

  /** Latency percentile in milliseconds. */
  p(percentile: number): number {
    return this.count ? this.histogram.percentile(percentile) / 1000 : 0;
  }

  mean(): number {
    return this.count ? this.histogram.mean / 1000 : 0;
  }

  summary(expected: number) {
    return {
      count: this.count,
      ok: this.ok(expected),
      errors: this.errors(expected),
      statuses: Object.fromEntries(this.statuses),
      latencyMs: { mean: round(this.mean()), p50: round(this.p(50)), p90: round(this.p(90)), p99: round(this.p(99)), max: round(this.count ? this.histogram.max / 1000 : 0) },
      errorSamples: this.errorSamples,
    };
  }
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Closed loop: `concurrency` workers each run `iteration` back to back until `durationMs` has
 * passed. Returns the wall time until the last worker finished its last iteration.
 */
export async function closedLoop(options: { concurrency: number; durationMs: number; iteration: (worker: number) => Promise<void> }) {
  const started = performance.now();
  const deadline = started + options.durationMs;
  let iterations = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        await options.iteration(worker);
        iterations += 1;
      }
    }),
  );
  return { elapsedMs: performance.now() - started, iterations };
}

/**
 * Open loop: starts `iteration` at a steady `ratePerSecond` for `durationMs`, whatever the
 * answers' latency, with at most `maxInFlight` running (arrivals beyond it are counted as
 * `skipped`: the server could not keep up with the rate). Returns when all have finished.
 */
export async function openLoop(options: { ratePerSecond: number; durationMs: number; maxInFlight: number; iteration: () => Promise<void> }) {
  const started = performance.now();
  const end = started + options.durationMs;
  const interval = 1000 / options.ratePerSecond;
  let launched = 0;
  let skipped = 0;
  let inFlight = 0;
  let next = started;
  const running = new Set<Promise<void>>();
  while (next < end) {
    const now = performance.now();
    if (now < next) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, next - now)));
      continue;
    }
    // Launch every arrival that is due (a timer can fire late).
    while (next <= performance.now() && next < end) {
      next += interval;
      if (inFlight >= options.maxInFlight) {
        skipped += 1;
        continue;
      }
      inFlight += 1;
      launched += 1;
      const p: Promise<void> = options
        .iteration()
        .catch(() => {})
        .finally(() => {
          inFlight -= 1;
          running.delete(p);
        });
      running.add(p);
    }
  }
  await Promise.all(running);
  return { elapsedMs: performance.now() - started, launched, skipped };
}
