// The interface between the lab server and a container runtime. The Docker implementation is in
// docker-runtime.ts; unit tests substitute a fake here and nowhere else.
import type { Duplex } from 'node:stream';

export interface ServiceSpec {
  name: string;
  imageTag: string;
  command?: string[];
  environment: Record<string, string>;
  user?: string;
  workingDir?: string;
  healthcheck?: { test: string; intervalSeconds: number };
}

export interface SandboxLimits {
  memoryBytes: number;
  nanoCpus: number;
  pids: number;
  /** Writable layer quota per container, enforced by the engine where it can and watched otherwise. */
  diskBytes?: number;
}

export interface SandboxSpec {
  instance: string;
  sessionId: string;
  labId: string;
  expiresAt: number;
  services: ServiceSpec[];
  limits: SandboxLimits;
  /** Started ahead of any learner for the pool; its resources carry the pool label. */
  pooled?: boolean;
}

export interface Sandbox {
  sessionId: string;
  networkId: string;
  /** Container id by service name. */
  containers: Record<string, string>;
}

export interface TerminalOptions {
  user?: string;
  shell: string;
  cols: number;
  rows: number;
  workingDir?: string;
}

export interface TerminalProcess {
  /** Raw TTY bytes both ways. */
  stream: Duplex;
  resize(cols: number, rows: number): Promise<void>;
  /** Ends the shell and closes the stream; safe to call twice. */
  dispose(): Promise<void>;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RemovalCount {
  containers: number;
  networks: number;
}

export interface SandboxRuntime {
  ping(): Promise<void>;
  imageExists(tag: string): Promise<boolean>;
  createSandbox(spec: SandboxSpec): Promise<Sandbox>;
  /** Removes one session's containers and network; resources already gone count as removed. */
  removeSandbox(instance: string, sessionId: string): Promise<RemovalCount>;
  /**
   * Removes every resource of this server instance, for leftovers of an earlier run, except the
   * sessions in `keep`, whose sandboxes are given back to their learners.
   */
  sweep(instance: string, keep?: ReadonlySet<string>): Promise<RemovalCount>;
  /** Finds a session's sandbox by its labels: its network and its running containers by service. */
  findSandbox?(instance: string, sessionId: string): Promise<Sandbox | undefined>;
  openTerminal(containerId: string, options: TerminalOptions): Promise<TerminalProcess>;
  /** Returns the container's IPv4 address on the given network, as the engine assigned it. */
  containerAddress(containerId: string, networkId: string): Promise<string | undefined>;
  runCommand(containerId: string, options: CommandOptions): Promise<CommandResult>;
}

export interface CommandOptions {
  user?: string;
  /** A shell command line, run with `sh -c`. */
  command: string;
  timeoutSeconds: number;
  /** Text for the command's standard input, which is closed after it. Absent means no input. */
  input?: string;
}

export interface EngineFacts {
  serverVersion: string;
  /** runc as the engine reports it, for example "1.1.5+ds1-1+deb12u1" or "v1.1.12-0-g51d5e94". */
  runcVersion: string | undefined;
  userNamespaces: boolean;
  seccomp: boolean;
  /** True when the engine can cap a container's writable layer (overlay2 on xfs with pquota). */
  storageQuota: boolean;
}

export interface WritableLayer {
  sessionId: string;
  containerId: string;
  service: string;
  bytes: number;
}

/** Engine-wide checks that the start-up guards and the disk watch need. */
export interface EngineGuards {
  inspectEngine(): Promise<EngineFacts>;
  measureWritableLayers(instance: string): Promise<WritableLayer[]>;
}
