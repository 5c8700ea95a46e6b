// Caps the lab sessions one client address runs at once. The per-learner cap counts sessions by
// the learner cookie, which a script can drop to start as many learners as it likes; the address
// stays. A slot is freed when its session ends for any reason (stop, expiry, idleness, reset).
import { LabError } from '../errors.ts';

export class ClientSessionLimitError extends LabError {
  constructor(limit: number, running: number, endsOnItsOwn: string) {
    super(
      'TooManySessionsFromAddress',
      429,
      `This address already runs ${running} lab ${running === 1 ? 'session' : 'sessions'}, the most allowed at once (${limit}). ` +
        `Stop one on its lab page, then press Start here again; sessions also end on their own ${endsOnItsOwn}.`,
    );
  }
}

export class ClientSessionCap {
  private readonly limit: number;
  private readonly endsOnItsOwn: string;
  /** The client address of each live session's slot, by session id. */
  private readonly holders = new Map<string, string>();
  /** Starts still running per address, so that parallel requests cannot all pass the check. */
  private readonly starting = new Map<string, number>();

  /**
   * limit 0 turns the cap off. endsOnItsOwn completes "sessions also end on their own ...",
   * such as "after 20 minutes without activity".
   */
  constructor(options: { limit: number; endsOnItsOwn: string }) {
    this.limit = options.limit;
    this.endsOnItsOwn = options.endsOnItsOwn;
  }

  /** Counts the live sessions and starts in progress of one address. */
  count(address: string): number {
    let held = this.starting.get(address) ?? 0;
    for (const holder of this.holders.values()) if (holder === address) held += 1;
    return held;
  }

  /**
   * Runs start when the address has a free slot and books the started session's slot to it;
   * throws ClientSessionLimitError when it has none. isLive reports whether the session still runs
   * once started, because one that ended meanwhile has already gone past release().
   */
  async admit<T extends { id: string }>(
    address: string,
    start: () => Promise<T>,
    isLive: (sessionId: string) => boolean,
  ): Promise<T> {
    if (this.limit === 0) return start();

    const running = this.count(address);
    if (running >= this.limit)
      throw new ClientSessionLimitError(this.limit, running, this.endsOnItsOwn);

    this.starting.set(address, (this.starting.get(address) ?? 0) + 1);
    try {
      const session = await start();
      if (isLive(session.id)) this.holders.set(session.id, address);
      return session;
    } finally {
      const left = (this.starting.get(address) ?? 1) - 1;
      if (left > 0) this.starting.set(address, left);
      else this.starting.delete(address);
    }
  }

  holderOf(sessionId: string): string | undefined {
    return this.holders.get(sessionId);
  }

  /** Books a session's slot without the check, for the fresh session of a reset. */
  hold(sessionId: string, address: string): void {
    if (this.limit > 0) this.holders.set(sessionId, address);
  }

  release(sessionId: string): void {
    this.holders.delete(sessionId);
  }
}
