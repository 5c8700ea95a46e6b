// The live shells of every session, one per lab terminal, so that a page reconnecting to a
// terminal finds the shell it left. The shells of a session end with it.
import type { WebSocket } from 'ws';

import type { Logger } from '../log.ts';
import type { SandboxRuntime, TerminalOptions } from '../sandbox/runtime.ts';
import { TerminalConnection } from './connection.ts';
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

export class TerminalRegistry {
  private readonly shells = new Map<string, Promise<TerminalShell>>();
  /** The container each shell runs in, by the same key, to notice a container that Restart replaced. */
  private readonly containers = new Map<string, string>();

  private readonly runtime: SandboxRuntime;
  private readonly settings: TerminalSettings;
  private readonly log: Logger;

  constructor(options: { runtime: SandboxRuntime; settings: TerminalSettings; log: Logger }) {
    this.runtime = options.runtime;
    this.settings = options.settings;
    this.log = options.log;
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
      if (shell && !sameContainer) await shell.dispose('closed', 'The container was recreated; this terminal now opens a shell in the new one.');
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

  private async start(key: string, address: TerminalAddress, options: TerminalOptions): Promise<TerminalShell> {
    const log = this.log.child({ sessionId: address.sessionId, terminalId: address.terminalId, containerId: address.containerId });
    const process = await this.runtime.openTerminal(address.containerId, options);

    let shell: TerminalShell;
    const forget = () => {
      void this.shells.get(key)?.then((current) => {
        if (current !== shell) return;
        this.shells.delete(key);
        this.containers.delete(key);
      });
    };
    shell = new TerminalShell({ process, settings: this.settings, log, onDisposed: forget });
    log.info({ shellId: shell.id, cols: options.cols, rows: options.rows }, 'shell started');
    return shell;
  }
}

function keyOf(sessionId: string, terminalId: string): string {
  return `${sessionId}/${terminalId}`;
}
