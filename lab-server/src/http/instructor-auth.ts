// The instructor token guards the dashboard's API, the read-only terminal views and /metrics.
// It is compared through SHA-256 digests in constant time, so neither its length nor its
// characters leak through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

import { LabError } from '../errors.ts';

export class InstructorUnauthorizedError extends LabError {
  constructor() {
    super(
      'InstructorUnauthorized',
      401,
      "The instructor token is missing or wrong. Copy it from the lab server's output at start (or from LAB_INSTRUCTOR_TOKEN) into the dashboard.",
    );
  }
}

export function instructorTokenMatches(expected: string, candidate: string | undefined): boolean {
  if (!candidate) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(candidate), digest(expected));
}

/** Express middleware: the request needs `Authorization: Bearer <instructor token>`. */
export function requireInstructor(token: string) {
  return (request: Request, _response: Response, next: NextFunction) => {
    const header = request.get('authorization') ?? '';
    const candidate = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    next(instructorTokenMatches(token, candidate) ? undefined : new InstructorUnauthorizedError());
  };
}
