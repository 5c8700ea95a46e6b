// One `docker exec` shell and what outlives its WebSocket: the replay buffer, the byte offsets and
// the flow control. At most one page is attached at a time; with none attached the shell waits
// for a grace period, then ends.
import { randomBytes } from 'node:crypto';

import type { Logger } from '../log.ts';
import type { TerminalProcess } from '../sandbox/runtime.ts';
import type { TerminalState } from './protocol.ts';
import { ReplayBuffer } from './replay-buffer.ts';

/** Largest OUTPUT payload, and the most a single read from the exec stream can overshoot by. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Output is gathered this long before it is sent, unless a keystroke arrived just before. */
const COALESCE_MS = 4;
/** Output this soon after input is sent at once, so echo does not wait for the coalescing. */
const ECHO_WINDOW_MS = 50;
/** Frames smaller than this are joined into one buffer before they are sent. */
const JOIN_BELOW_BYTES = 16 * 1024;
/** Maximum wait for a resize before held input goes to the shell anyway. */
const RESIZE_HOLD_MS = 2000;
/**
 * Maximum input waiting for the shell to read it, or for a resize. Input beyond it is dropped,
 * so a page cannot grow the server's memory by typing into a shell that does not read.
 */
export const MAX_INPUT_BACKLOG_BYTES = 256 * 1024;

export interface ShellSettings {
  /** Milliseconds a shell with no page attached stays alive. */
  graceMs: number;
  /** Replay buffer size; the high-water mark is derived from it. */
  bufferBytes: number;
}

export interface FlowLimits {
  highWaterBytes: number;
  lowWaterBytes: number;
}

/**
 * Derives the flow-control marks from the buffer size. Reading pauses before the unacknowledged
 * bytes can outgrow the buffer, so a page that reconnects never finds a byte it was sent but did
 * not process already evicted.
 */
export function flowLimits(bufferBytes: number): FlowLimits {
  const highWaterBytes = bufferBytes - MAX_FRAME_BYTES;
  return { highWaterBytes, lowWaterBytes: Math.floor(highWaterBytes / 4) };
}

/** The side of a WebSocket the shell talks to; TerminalConnection implements it. */
export interface ShellClient {
  sendAttached(offset: number, dropped: number, shellId: string): void;
  sendOutput(offset: number, data: Uint8Array): void;
  /** Sends one OUTPUT frame made of several pieces, without joining them first, when it can. */
  sendOutputParts?(offset: number, parts: Uint8Array[]): void;
  /** Tells the page another page took the terminal over, and closes its socket. */
  replace(): void;
  /** Tells the page the shell is gone, and closes its socket. */
  end(state: TerminalState, message: string): void;
}

export class TerminalShell {
  readonly id = randomBytes(9).toString('base64url');
  private readonly replay: ReplayBuffer;
  private readonly limits: FlowLimits;
  private acknowledged = 0;
  private delivered = 0;
  private paused = false;
  private client: ShellClient | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private echoUntil = 0;
  private disposed = false;
  /** True while a resize is on its way to the engine; input that arrives meanwhile is held. */
  private resizing = false;
  /** The latest size asked for while a resize was on its way: older ones are skipped. */
  private nextSize: { cols: number; rows: number } | undefined;
  private heldInput: Uint8Array[] = [];
  private heldBytes = 0;
  private heldSince = 0;

  private readonly process: TerminalProcess;
  private readonly settings: ShellSettings;
  private readonly log: Logger;
  private readonly onDisposed: () => void;

  constructor(options: {
    process: TerminalProcess;
    settings: ShellSettings;
    log: Logger;
    onDisposed: () => void;
  }) {
    this.process = options.process;
    this.settings = options.settings;
    this.log = options.log.child({ shellId: this.id });
    this.onDisposed = options.onDisposed;
    this.replay = new ReplayBuffer(this.settings.bufferBytes);
    this.limits = flowLimits(this.settings.bufferBytes);

    const stream = this.process.stream;
    stream.on('data', (chunk: Buffer) => this.receiveOutput(chunk));
    stream.on(
      'end',
      () => void this.dispose('exited', 'The shell has exited. Press Start for a new lab session.'),
    );
    stream.on('error', (error) => {
      this.log.warn({ err: error }, 'terminal stream failed');
      void this.dispose('error', 'The connection to the container was lost.');
    });

    // Until a page attaches, the shell is as good as abandoned.
    this.startGraceTimer();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Attaches a page, replacing the one attached before. A page that names this shell and an
   * offset still in the buffer gets the bytes from there. Any other page gets all the buffer has.
   */
  attach(client: ShellClient, request: { shellId?: string; offset?: number }): void {
    const previous = this.client;
    this.client = client;
    clearTimeout(this.graceTimer);
    previous?.replace();

    const { offset, dropped } = this.resumePoint(request);
    this.acknowledged = offset;
    this.delivered = offset;
    client.sendAttached(offset, dropped, this.id);
    this.log.info({ offset, dropped, replaced: previous !== undefined }, 'page attached');

    this.flush();
    this.updateFlow();
  }

  /** Forgets the page if it is still the attached one, and starts the grace period. */
  detach(client: ShellClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.log.info(
      { graceMs: this.settings.graceMs },
      'page detached, shell kept for the grace period',
    );
    this.startGraceTimer();
  }

  /**
   * Writes input to the shell, or keeps it back while a resize is on its way. Returns false when the
   * input was dropped because too much is already waiting for the shell.
   */
  input(client: ShellClient, data: Uint8Array): boolean {
    if (this.client !== client) return true;
    if (this.process.stream.writableLength + this.heldBytes + data.length > MAX_INPUT_BACKLOG_BYTES)
      return false;

    this.echoUntil = Date.now() + ECHO_WINDOW_MS;
    if (this.resizing) {
      if (this.heldInput.length === 0) this.heldSince = Date.now();
      if (Date.now() - this.heldSince < RESIZE_HOLD_MS) {
        this.heldInput.push(data);
        this.heldBytes += data.length;
        return true;
      }
    }

    this.releaseInput();
    this.process.stream.write(data);
    return true;
  }

  /**
   * Resizes the TTY through an engine call. Input that arrives before the call returns waits for
   * it, so a command typed right after a takeover or a window resize runs at the new size. One
   * call runs at a time and only the latest size waits behind it, so a storm of resizes costs
   * the engine one call at a time and delays input for at most RESIZE_HOLD_MS.
   */
  resize(client: ShellClient, cols: number, rows: number): void {
    if (this.client !== client) return;
    if (this.resizing) {
      this.nextSize = { cols, rows };
      return;
    }

    this.resizing = true;
    void withTimeout(this.process.resize(cols, rows), RESIZE_HOLD_MS)
      .catch((error: unknown) => this.log.warn({ err: error, cols, rows }, 'resize failed'))
      .then(() => {
        this.resizing = false;
        const next = this.nextSize;
        this.nextSize = undefined;
        if (next && this.client && !this.disposed) this.resize(this.client, next.cols, next.rows);
        else this.releaseInput();
      });
  }

  private releaseInput(): void {
    const held = this.heldInput.splice(0);
    this.heldBytes = 0;
    if (this.disposed) return;
    for (const data of held) this.process.stream.write(data);
  }

  /** Records that the page has processed every byte before `offset`; ignores stale or impossible ones. */
  acknowledge(client: ShellClient, offset: number): void {
    if (this.client !== client) return;
    if (offset > this.delivered || offset <= this.acknowledged) return;
    this.acknowledged = offset;
    this.updateFlow();
  }

  private resumePoint(request: { shellId?: string; offset?: number }): {
    offset: number;
    dropped: number;
  } {
    const oldest = this.replay.start;
    if (
      request.shellId !== this.id ||
      request.offset === undefined ||
      request.offset > this.replay.end
    ) {
      return { offset: oldest, dropped: 0 };
    }
    if (request.offset < oldest) return { offset: oldest, dropped: oldest - request.offset };
    return { offset: request.offset, dropped: 0 };
  }

  private receiveOutput(chunk: Buffer): void {
    this.replay.append(chunk);
    this.updateFlow();
    if (!this.client) return;

    // Echo and a full frame go out in this same turn: even a zero-delay timer costs about 1 ms.
    const pending = this.replay.end - this.delivered;
    if (pending >= MAX_FRAME_BYTES || Date.now() < this.echoUntil) this.flush();
    else this.scheduleFlush(COALESCE_MS);
  }

  private scheduleFlush(delayMs: number): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), delayMs);
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.client || this.delivered >= this.replay.end) return;

    let offset = Math.max(this.delivered, this.replay.start);
    for (const parts of framesOf(this.replay.viewsFrom(offset), MAX_FRAME_BYTES)) {
      const length = parts.reduce((sum, part) => sum + part.length, 0);
      this.sendFrame(this.client, offset, parts, length);
      offset += length;
    }
    this.delivered = offset;
  }

  /**
   * Sends a large frame as pieces, so its bytes are never copied, because at tens of MB/s each
   * copy adds to the garbage the server collects. A small frame is joined into one socket write.
   */
  private sendFrame(client: ShellClient, offset: number, parts: Buffer[], length: number): void {
    if (client.sendOutputParts && length >= JOIN_BELOW_BYTES) client.sendOutputParts(offset, parts);
    else client.sendOutput(offset, parts.length === 1 ? parts[0]! : Buffer.concat(parts, length));
  }

  /** Pauses reading above the high-water mark of unacknowledged bytes, resumes below the low one. */
  private updateFlow(): void {
    const unacknowledged = this.replay.end - this.acknowledged;
    if (!this.paused && unacknowledged > this.limits.highWaterBytes) {
      this.paused = true;
      this.process.stream.pause();
    } else if (this.paused && unacknowledged < this.limits.lowWaterBytes) {
      this.paused = false;
      this.process.stream.resume();
    }
  }

  /** Lets a shell started before any page asked wait `ms` for its first page, not the grace period. */
  holdFor(ms: number): void {
    if (this.client) return;
    this.startGraceTimer(ms);
  }

  private startGraceTimer(ms: number = this.settings.graceMs): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => {
      this.log.info('grace period over, ending the shell');
      void this.dispose('closed', 'The shell was ended after its page stayed away.');
    }, ms);
    this.graceTimer.unref();
  }

  /** Sends the page the last output and why the shell ends, then ends the exec. Safe to call twice. */
  async dispose(state: TerminalState, message: string): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.graceTimer);

    this.flush();
    this.client?.end(state, message);
    this.client = undefined;
    this.onDisposed();

    try {
      await this.process.dispose();
      this.log.info({ state }, 'shell ended');
    } catch (error) {
      if (isContainerGoing(error))
        this.log.debug({ reason: (error as Error).message }, 'the shell ended with its container');
      else this.log.warn({ err: error }, 'ending the shell failed');
    }
  }
}

/**
 * Whether ending a shell failed only because its container is already gone or being removed, as
 * when a web-build Restart replaces it. Docker 20.10 rejects an exec there with a 500 whose
 * message is "Container … is not running: Removal In Progress", so the status alone is not enough.
 */
export function isContainerGoing(error: unknown): boolean {
  const status = (error as { statusCode?: number } | null)?.statusCode;
  if (status === 404 || status === 409) return true;
  return /is not running|removal in progress|no such container/i.test(
    String((error as Error | null)?.message ?? ''),
  );
}

/** Groups views into frames of at most `limit` bytes, splitting a view that crosses the limit. */
function framesOf(views: Buffer[], limit: number): Buffer[][] {
  const frames: Buffer[][] = [];
  let frame: Buffer[] = [];
  let size = 0;

  for (let view of views) {
    while (view.length > 0) {
      const part = view.subarray(0, limit - size);
      frame.push(part);
      size += part.length;
      view = view.subarray(part.length);
      if (size < limit) continue;
      frames.push(frame);
      frame = [];
      size = 0;
    }
  }
  if (frame.length > 0) frames.push(frame);
  return frames;
}

/** Settles with the promise, or rejects once `ms` pass first. */
function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the resize timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
