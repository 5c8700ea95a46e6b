// What a learner sees when the lab server is full: the server's own message, a countdown to its
// retry time, and a new try when it runs out, so nobody has to keep pressing Start.
import { ApiError } from './lab-api.ts';

/** Tries at most this often before leaving it to the learner. */
const MAX_TRIES = 10;

/** True for a refusal that says when to come back: server full (503) or too many starts (429). */
export function isRetryable(error: unknown): error is ApiError & { retryAfterSeconds: number } {
  return (
    error instanceof ApiError &&
    (error.status === 503 || error.status === 429) &&
    error.retryAfterSeconds !== undefined
  );
}

/**
 * Runs `start` until it succeeds; while the server is full, shows its message with a countdown
 * and tries again when the countdown ends. Other errors, and the last try's, are thrown.
 */
export async function startWhenThereIsRoom<T>(
  start: () => Promise<T>,
  setStatus: (message: string) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (!isRetryable(error) || attempt >= MAX_TRIES) throw error;
      await countDown(error.message, error.retryAfterSeconds, setStatus);
      setStatus('Trying again…');
    }
  }
}

function countDown(
  message: string,
  seconds: number,
  setStatus: (message: string) => void,
): Promise<void> {
  // The server's message already names its retry time; the countdown replaces that sentence.
  const reason = message.replace(/\s*Try again in[^.]*\.\s*$/, '');
  return new Promise((resolve) => {
    let left = Math.max(1, Math.round(seconds));
    const show = () =>
      setStatus(`${reason} Your place is tried again in ${left} s; keep this page open.`);
    show();
    const timer = window.setInterval(() => {
      left -= 1;
      if (left > 0) return show();
      window.clearInterval(timer);
      resolve();
    }, 1000);
  });
}
