// A sandbox runtime for unit tests, which records calls instead of starting containers. Mocks
// stop here, at the runtime interface, and nowhere deeper.
import { PassThrough } from 'node:stream';

import type {
  CommandOptions,
  CommandResult,
  Sandbox,
  SandboxRuntime,
  SandboxSpec,
} from '../../lab-server/src/sandbox/runtime.ts';

export interface RecordedCommand extends CommandOptions {
  containerId: string;
}

export class FakeRuntime implements SandboxRuntime {
  created: SandboxSpec[] = [];
  removed: string[] = [];
  missingImages = new Set<string>();
  imageChecks = 0;
  /** The command lines run, in order. `calls` also records the container, user and input. */
  commands: string[] = [];
  calls: RecordedCommand[] = [];
  /** Command lines that exit 1 with `FAIL: not yet`. */
  failing = new Set<string>();
  /** Command lines that wait until release() names them, such as a health check not yet passing. */
  heldCommands = new Set<string>();
  /** Standard output by command line, for commands whose output matters, such as `router-route list`. */
  outputs = new Map<string, string>();
  /** Sandboxes that findSandbox() returns, as a restarted server finds them by label. */
  stored = new Map<string, Sandbox>();
  private readonly waiters = new Map<string, (() => void)[]>();

  async ping() {}

  async imageExists(tag: string) {
    this.imageChecks += 1;
    return !this.missingImages.has(tag);
  }

  /** Records the spec and gives each service the container id `<service>-<session id>`. */
  async createSandbox(spec: SandboxSpec) {
    this.created.push(spec);
    const containers = Object.fromEntries(
      spec.services.map((service) => [service.name, `${service.name}-${spec.sessionId}`]),
    );
    return { sessionId: spec.sessionId, networkId: 'net', containers };
  }

  async removeSandbox(_instance: string, sessionId: string) {
    this.removed.push(sessionId);
    return { containers: 1, networks: 1 };
  }

  async sweep() {
    return { containers: 0, networks: 0 };
  }

  async findSandbox(_instance: string, sessionId: string) {
    return this.stored.get(sessionId);
  }

  async openTerminal() {
    return { stream: new PassThrough(), resize: async () => {}, dispose: async () => {} };
  }

  async containerAddress() {
    return '10.213.0.2';
  }

  async runCommand(containerId: string, options: CommandOptions): Promise<CommandResult> {
    this.commands.push(options.command);
    this.calls.push({ containerId, ...options });
    if (this.heldCommands.has(options.command)) await this.waitForRelease(options.command);

    const exitCode = this.failing.has(options.command) ? 1 : 0;
    const stdout = exitCode ? 'FAIL: not yet' : (this.outputs.get(options.command) ?? '');
    return { exitCode, stdout, stderr: '', timedOut: false };
  }

  /** Lets the held command, and every later run of it, finish. */
  release(command: string): void {
    this.heldCommands.delete(command);
    for (const resolve of this.waiters.get(command)?.splice(0) ?? []) resolve();
  }

  private waitForRelease(command: string): Promise<void> {
    return new Promise((resolve) =>
      this.waiters.set(command, [...(this.waiters.get(command) ?? []), resolve]),
    );
  }
}
