// The live shells of every session, one per lab terminal, so that a page reconnecting to a
// terminal finds the shell it left. The shells of a session end with it.
import type { WebSocket } from 'ws';

import type { Logger } from '../log.ts';
import type { SandboxRuntime, TerminalOptions, TerminalProcess } from '../sandbox/runtime.ts';
import { TerminalConnection } from './connection.ts';
import { ReadOnlyViewer } from './read-only-viewer.ts';
import { ReplayBuffer } from './replay-buffer.ts';
import { TerminalShell, type ShellSettings } from './shell.ts';

export interface TerminalSettings extends ShellSettings {
  /** Milliseconds between the server's pings. */
  pingMs: number;
}

export interface AttachRequest {
  shellId?: string;
  offset?: number;
  cols: number;
  rows: number;
}

export interface TerminalAddress {
  sessionId: string;
  terminalId: string;
  containerId: string;
}

/** Output a read-only viewer gets when it opens: the last screens or so. */
const VIEWER_RECENT_BYTES = 64 * 1024;

/** What the read-only viewers of one shell read from. */
interface OutputTap {
  recent: ReplayBuffer;
  viewers: Set<ReadOnlyViewer>;
}

export class TerminalRegistry {
  private readonly shells = new Map<string, Promise<TerminalShell>>();
  private readonly taps = new Map<TerminalShell, OutputTap>();
  /** The container each shell runs in, by the same key, to notice a container that Restart replaced. */
  private readonly containers = new Map<string, string>();

  private readonly runtime: SandboxRuntime;
  private readonly settings: TerminalSettings;
  private readonly log: Logger;
  private readonly onFlowPause: () => void;

  constructor(options: {
    runtime: SandboxRuntime;
    settings: TerminalSettings;
    log: Logger;
    onFlowPause?: () => void;
  }) {
    this.runtime = options.runtime;
    this.settings = options.settings;
    this.log = options.log;
    this.onFlowPause = options.onFlowPause ?? (() => undefined);
  }

  /** Returns the terminal's live shell, or starts one with the given options. */
  async shellFor(address: TerminalAddress, options: TerminalOptions): Promise<TerminalShell> {
    const key = keyOf(address.sessionId, address.terminalId);
    const existing = this.shells.get(key);
    if (existing) {
      const shell = await existing.catch(() => undefined);
      const sameContainer = this.containers.get(key) === address.containerId;
      if (shell && !shell.isDisposed && sameContainer) return shell;
      if (this.shells.get(key) === existing) this.shells.delete(key);
      // A Restart recreated the container: its old shell is gone with it, or about to be.
      if (shell && !sameContainer)
        await shell.dispose(
          'closed',
          'The container was recreated; this terminal now opens a shell in the new one.',
        );
    }

    const started = this.start(key, address, options);
    this.shells.set(key, started);
    this.containers.set(key, address.containerId);
    started.catch(() => {
      if (this.shells.get(key) === started) this.shells.delete(key);
    });
    return started;
  }

  /**
   * Attaches an open WebSocket to a shell from shellFor() and sizes the shell to the page, which
   * matters when the shell was started by another page or before a window resize.
   */
  attach(shell: TerminalShell, socket: WebSocket, request: AttachRequest, log: Logger): void {
    const connection = new TerminalConnection({ socket, shell, log, pingMs: this.settings.pingMs });
    shell.attach(connection, request);
    shell.resize(connection, request.cols, request.rows);
  }

  /**
   * Opens a read-only view of the terminal's shell (starting the shell when the learner has not
   * yet): the viewer gets recent output and what follows, and nothing it sends reaches the shell.
   */
  async watch(
    address: TerminalAddress,
    options: TerminalOptions,
    socket: WebSocket,
    log: Logger,
  ): Promise<void> {
    const shell = await this.shellFor(address, options);
    const tap = this.taps.get(shell);
    if (!tap) {
      socket.close(1000, 'closed');
      return;
    }

    const viewer = new ReadOnlyViewer({
      socket,
      log,
      shellId: shell.id,
      recent: tap.recent.readFrom(tap.recent.start),
      pingMs: this.settings.pingMs,
      onClose: () => tap.viewers.delete(viewer),
    });
    tap.viewers.add(viewer);
    log.info({ shellId: shell.id }, 'read-only view opened');
  }

  /**
   * Starts a terminal's shell before any page asks for it, so the first page gets its prompt at
   * once. The shell waits `holdMs` for that page instead of the grace period.
   */
  async prestart(
    address: TerminalAddress,
    options: TerminalOptions,
    holdMs: number,
  ): Promise<void> {
    const shell = await this.shellFor(address, options);
    shell.holdFor(holdMs);
  }

  /** Ends every shell of a session and sends their pages the reason. */
  async endSession(sessionId: string, message: string): Promise<void> {
    const prefix = keyOf(sessionId, '');
    const ending = [...this.shells.entries()].filter(([key]) => key.startsWith(prefix));
    await Promise.all(
      ending.map(async ([key, started]) => {
        this.shells.delete(key);
        this.containers.delete(key);
        const shell = await started.catch(() => undefined);
        await shell?.dispose('closed', message);
      }),
    );
  }

  get size(): number {
    return this.shells.size;
  }

  private async start(
    key: string,
    address: TerminalAddress,
    options: TerminalOptions,
  ): Promise<TerminalShell> {
    const log = this.log.child({
      sessionId: address.sessionId,
      terminalId: address.terminalId,
      containerId: address.containerId,
    });
    const process = await this.runtime.openTerminal(address.containerId, options);

    let shell: TerminalShell;
    const forget = () => {
      for (const viewer of this.taps.get(shell)?.viewers ?? []) viewer.end('The shell has ended.');
      this.taps.delete(shell);
      void this.shells.get(key)?.then((current) => {
        if (current !== shell) return;
        this.shells.delete(key);
        this.containers.delete(key);
      });
    };
    shell = new TerminalShell({ process, settings: this.settings, log, onDisposed: forget });
    this.tapOutput(shell, process.stream);
    log.info({ shellId: shell.id, cols: options.cols, rows: options.rows }, 'shell started');
    return shell;
  }

  /**
   * Copies the shell's output to its read-only viewers, and counts the shell's flow-control
   * pauses. The shell's own listener comes first, so viewers see output in the same order.
   */
  private tapOutput(shell: TerminalShell, stream: TerminalProcess['stream']): void {
    const tap: OutputTap = { recent: new ReplayBuffer(VIEWER_RECENT_BYTES), viewers: new Set() };
    this.taps.set(shell, tap);
    stream.on('data', (chunk: Buffer) => {
      tap.recent.append(chunk);
      for (const viewer of tap.viewers) viewer.output(chunk);
    });

    // NOTE: the shell pauses its stream when the page falls behind; wrapping pause() counts that
    // without the shell knowing about metrics. It can go when the shell reports pauses itself.
    const pause = stream.pause.bind(stream);
    stream.pause = () => {
      if (!stream.isPaused()) this.onFlowPause();
      return pause();
    };
  }
}

function keyOf(sessionId: string, terminalId: string): string {
  return `${sessionId}/${terminalId}`;
}
