// Limits how often one client address may start lab sessions or try join codes per minute, so
// that a script cannot exhaust the server's sessions or guess a training's code. A sliding window
// of request times per address.
import type { NextFunction, Request, Response } from 'express';

import { LabError } from '../errors.ts';
import { clientAddress } from './client-address.ts';

const WINDOW_MS = 60_000;

export class RateLimitedError extends LabError {
  readonly retryAfterSeconds: number;

  constructor(limit: number, retryAfterSeconds: number, what: string) {
    super(
      'TooManyRequests',
      429,
      `This address made ${limit} ${what} in the last minute, the most allowed. Try again in ${retryAfterSeconds} seconds.`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function sessionRateLimit(limitPerMinute: number, what = 'lab session starts') {
  const starts = new Map<string, number[]>();

  return (request: Request, _response: Response, next: NextFunction) => {
    const client = clientAddress(request);
    const now = Date.now();
    const recent = (starts.get(client) ?? []).filter((time) => now - time < WINDOW_MS);

    if (recent.length >= limitPerMinute) {
      starts.set(client, recent);
      next(
        new RateLimitedError(
          limitPerMinute,
          Math.ceil((recent[0]! + WINDOW_MS - now) / 1000),
          what,
        ),
      );
      return;
    }

    recent.push(now);
    starts.set(client, recent);
    if (starts.size > 10_000) forgetIdle(starts, now);
    next();
  };
}

function forgetIdle(starts: Map<string, number[]>, now: number): void {
  for (const [client, times] of starts) {
    if (times.every((time) => now - time >= WINDOW_MS)) starts.delete(client);
  }
}
