/**
 * Faults a test injects: queued specs, matched against incoming requests in order, each applying to a
 * number of matching requests; what they answer instead of the endpoint, and how they change the
 * delivery of an answer (late, or never). Also the per-second rate limit, the one fault that is a
 * setting rather than a queued spec.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rateLimited, type Outcome } from './errors.js';

export type RequestMatcher = string | ((request: { method: string; path: string }) => boolean);

export type FaultSpec =
  /** Answer `status` with an api_error and do not perform the operation. `replayable: true` stores it
   * under the idempotency key, as Stripe does for a 500 raised inside an endpoint. */
  | { kind: 'status'; status: number; message?: string; shouldRetry?: boolean; replayable?: boolean }
  /** 429 rate_limit_error; not performed, not stored. */
  | { kind: 'rate_limit' }
  /** Perform (and store) at once, answer after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Perform (and store), then drop the connection: before any byte (default; the SDK sees ECONNRESET
   * and retries once by itself), or after the headers and half the body (the SDK throws). */
  | { kind: 'lose_response'; at?: 'before_headers' | 'mid_body' }
  /** Answer this Stripe error; not performed, not stored. */
  | { kind: 'error'; status: number; type: string; code?: string; message?: string; param?: string; decline_code?: string };

export type Fault = FaultSpec & {
  /** 'POST /v1/transfers' (method and path prefix), '/v1/transfers' (any method), 'GET', or a predicate.
   * Omitted: the next request of any kind. */
  match?: RequestMatcher;
  /** How many matching requests it applies to (default 1). */
  times?: number;
};

export function matches(matcher: RequestMatcher | undefined, method: string, path: string): boolean {
  if (matcher === undefined) return true;
  if (typeof matcher === 'function') return matcher({ method, path });
  const [first, second] = matcher.trim().split(/\s+/, 2);
  if (second !== undefined) return method === first!.toUpperCase() && path.startsWith(second);
  if (first!.startsWith('/')) return path.startsWith(first!);
  return method === first!.toUpperCase();
}

export class FaultQueue {
  private queue: Array<Fault & { remaining: number }> = [];

  enqueue(fault: Fault): void {
    if (fault.kind === 'delay' && !(fault.ms >= 0)) throw new Error('stripe-double: a delay fault needs ms >= 0');
    this.queue.push({ ...fault, remaining: fault.times ?? 1 });
  }

  /** Faults still waiting for a request, `times` being what is left of each. */
  pending(): Fault[] {
    return this.queue.map(({ remaining, ...f }) => ({ ...f, times: remaining }));
  }

  clear(): void {
    this.queue = [];
  }

  /** The first queued fault that matches this request, used up by one. */
  take(method: string, path: string): Fault | undefined {
    const i = this.queue.findIndex((f) => matches(f.match, method, path));
    if (i < 0) return undefined;
    const f = this.queue[i]!;
    f.remaining -= 1;
    if (f.remaining <= 0) this.queue.splice(i, 1);
    return f;
  }
}

/** The answer a fault gives in place of the endpoint ('status', 'rate_limit', 'error'); undefined for
 * the faults that let the endpoint run and only change delivery ('delay', 'lose_response'). */
export function injectedOutcome(fault: Fault): Outcome | undefined {
  switch (fault.kind) {
    case 'status':
      return {
        status: fault.status,
        body: { error: { type: 'api_error', message: fault.message ?? `An unknown error occurred (stripe-double injected ${fault.status}).` } },
        headers: fault.shouldRetry === undefined ? {} : { 'Stripe-Should-Retry': String(fault.shouldRetry) },
      };
    case 'rate_limit':
      return rateLimited();
    case 'error': {
      const { status, type, code, message, param, decline_code } = fault;
      return {
        status,
        body: { error: { type, message: message ?? `stripe-double injected ${type}`, ...(code ? { code } : {}), ...(param ? { param } : {}), ...(decline_code ? { decline_code } : {}) } },
      };
    }
    default:
      return undefined;
  }
}

/** A response ready to write. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function send(res: ServerResponse, answer: Answer): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(Buffer.byteLength(answer.body)) });
  res.end(answer.body);
}

/** Writes the answer as the request's fault says: after a delay (timer kept in `timers` so close() can
 * cancel it), not at all (the connection dropped before any byte, or after the headers and half the
 * body), or, without such a fault, at once. */
export function deliver(req: IncomingMessage, res: ServerResponse, answer: Answer, fault: Fault | undefined, timers: Set<NodeJS.Timeout>): void {
  if (fault?.kind === 'delay') {
    const timer = setTimeout(() => {
      timers.delete(timer);
      send(res, answer);
    }, fault.ms);
    timers.add(timer);
  } else if (fault?.kind === 'lose_response') {
    if (fault.at === 'mid_body') {
      const bytes = Buffer.from(answer.body);
      res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(bytes.length) });
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.socket?.destroy());
    } else {
      req.socket.destroy();
    }
  } else {
    send(res, answer);
  }
}

/** Stripe's per-second limit: every authenticated request counts in a 1-second window; past `limit`,
 * 429 (unless a queued fault already applies to the request). */
export class RateWindow {
  /** How many requests the limit refused since start (or reset()). */
  limitedCount = 0;
  private windowStart = 0;
  private windowCount = 0;

  constructor(public limit: number | undefined) {}

  /** Counts one request in the current window, starting a new window once a second has passed. */
  count(now: number): void {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount += 1;
  }

  /** True (and counted as refused) when the current window is over the limit. */
  refuse(): boolean {
    if (this.limit !== undefined && this.windowCount > this.limit) {
      this.limitedCount += 1;
      return true;
    }
    return false;
  }

  /** Forgets the window and the refused count; the limit is kept. */
  reset(): void {
    this.windowStart = 0;
    this.windowCount = 0;
    this.limitedCount = 0;
  }
}
