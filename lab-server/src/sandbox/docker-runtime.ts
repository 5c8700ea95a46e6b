// SandboxRuntime on a Docker Engine, through dockerode. Every resource is labelled from
// managedLabels() and found again by label only.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

import { createDockerClient, assertDockerReachable } from './docker-client.ts';
import { labelFilter, LABELS, managedLabels } from './labels.ts';
import type {
  CommandResult,
  RemovalCount,
  Sandbox,
  SandboxRuntime,
  SandboxSpec,
  ServiceSpec,
  TerminalOptions,
  TerminalProcess,
} from './runtime.ts';

// Capabilities a DDEV-like web or db container needs: supervisord starts as root and the
// servers drop to their own users (SETUID, SETGID), bind ports 80 and 443 (NET_BIND_SERVICE),
// and fix ownership of their runtime folders (CHOWN, FOWNER, DAC_OVERRIDE). NET_RAW and MKNOD
// are never granted.
const CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_BIND_SERVICE', 'SETGID', 'SETUID'];

const OUTPUT_LIMIT_BYTES = 64 * 1024;

export class DockerRuntime implements SandboxRuntime {
  readonly docker: Docker;

  constructor(docker: Docker = createDockerClient()) {
    this.docker = docker;
  }

  async ping(): Promise<void> {
    await assertDockerReachable(this.docker);
  }

  async imageExists(tag: string): Promise<boolean> {
    try {
      await this.docker.getImage(tag).inspect();
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  async createSandbox(spec: SandboxSpec): Promise<Sandbox> {
    const base = { instance: spec.instance, sessionId: spec.sessionId, labId: spec.labId, expiresAt: spec.expiresAt };

    // An internal network: the session's containers reach each other by service name, and
    // nothing outside it.
    const network = await this.docker.createNetwork({
      Name: `ddevlab-${spec.instance}-${spec.sessionId}`,
      Driver: 'bridge',
      Internal: true,
      CheckDuplicate: true,
      Labels: managedLabels({ kind: 'network', ...base }),
    });

    const sandbox: Sandbox = { sessionId: spec.sessionId, networkId: network.id, containers: {} };
    try {
      const created = await Promise.all(
        spec.services.map(async (service) => {
          const container = await this.createContainer(spec, service, network.id);
          await container.start();
          return [service.name, container.id] as const;
        }),
      );
      sandbox.containers = Object.fromEntries(created);
      return sandbox;
    } catch (error) {
      await this.removeSandbox(spec.instance, spec.sessionId);
      throw error;
    }
  }

  private async createContainer(spec: SandboxSpec, service: ServiceSpec, networkId: string) {
    const labels = managedLabels({
      kind: 'sandbox',
      instance: spec.instance,
      sessionId: spec.sessionId,
      labId: spec.labId,
      service: service.name,
      expiresAt: spec.expiresAt,
    });

    return this.docker.createContainer({
      name: `ddevlab-${spec.instance}-${spec.sessionId}-${service.name}`,
      Image: service.imageTag,
      Cmd: service.command,
      Hostname: service.name,
      User: service.user,
      WorkingDir: service.workingDir,
      Env: Object.entries(service.environment).map(([key, value]) => `${key}=${value}`),
      Labels: labels,
      Healthcheck: service.healthcheck && {
        Test: ['CMD-SHELL', service.healthcheck.test],
        Interval: service.healthcheck.intervalSeconds * 1e9,
        Timeout: 5e9,
        Retries: 30,
      },
      HostConfig: {
        NetworkMode: networkId,
        Privileged: false,
        PublishAllPorts: false,
        CapDrop: ['ALL'],
        CapAdd: CAPABILITIES,
        SecurityOpt: ['no-new-privileges:true'],
        Memory: spec.limits.memoryBytes,
        MemorySwap: spec.limits.memoryBytes,
        NanoCpus: spec.limits.nanoCpus,
        PidsLimit: spec.limits.pids,
        Ulimits: [{ Name: 'nofile', Soft: 4096, Hard: 8192 }],
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
        RestartPolicy: { Name: 'no' },
      },
      NetworkingConfig: {
        EndpointsConfig: { [networkId]: { Aliases: [service.name] } },
      },
    });
  }

  async removeSandbox(instance: string, sessionId: string): Promise<RemovalCount> {
    return this.removeByLabels({ [LABELS.managed]: 'true', [LABELS.instance]: instance, [LABELS.session]: sessionId });
  }

  async sweep(instance: string): Promise<RemovalCount> {
    return this.removeByLabels({ [LABELS.managed]: 'true', [LABELS.instance]: instance });
  }

  private async removeByLabels(labels: Record<string, string>): Promise<RemovalCount> {
    const filters = JSON.stringify(labelFilter(labels));
    const containers = await this.docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map((info) => ignoreGone(this.docker.getContainer(info.Id).remove({ force: true, v: true }))),
    );

    const networks = await this.docker.listNetworks({ filters });
    await Promise.all(networks.map((info) => ignoreGone(this.docker.getNetwork(info.Id).remove())));

    return { containers: containers.length, networks: networks.length };
  }

  async openTerminal(containerId: string, options: TerminalOptions): Promise<TerminalProcess> {
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: [options.shell, '-l'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      User: options.user,
      WorkingDir: options.workingDir,
      Env: ['TERM=xterm-256color', `COLUMNS=${options.cols}`, `LINES=${options.rows}`],
    });

    const stream = await exec.start({ hijack: true, stdin: true, Tty: true });
    const resize = async (cols: number, rows: number) => {
      await exec.resize({ w: cols, h: rows });
    };
    await resize(options.cols, options.rows);

    let disposed = false;
    return {
      stream,
      resize,
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        // The shell sees end of input and a closed TTY, and exits.
        stream.end();
        stream.destroy();
      },
    };
  }

  async runCommand(
    containerId: string,
    options: { user?: string; command: string; timeoutSeconds: number },
  ): Promise<CommandResult> {
    // coreutils `timeout` kills the command inside the container; the timer below covers an
    // engine that stops answering.
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: ['timeout', '-s', 'KILL', String(options.timeoutSeconds), 'sh', '-c', options.command],
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: options.user,
    });

    const stream = await exec.start({ hijack: true, stdin: false });
    const stdout = new LimitedText(OUTPUT_LIMIT_BYTES);
    const stderr = new LimitedText(OUTPUT_LIMIT_BYTES);
    const stdoutSink = new PassThrough().on('data', (chunk: Buffer) => stdout.add(chunk));
    const stderrSink = new PassThrough().on('data', (chunk: Buffer) => stderr.add(chunk));
    this.docker.modem.demuxStream(stream, stdoutSink, stderrSink);

    const ended = await waitForEnd(stream, (options.timeoutSeconds + 5) * 1000);
    if (!ended) stream.destroy();

    const info = await exec.inspect();
    const exitCode = info.ExitCode ?? -1;
    return { exitCode, stdout: stdout.text(), stderr: stderr.text(), timedOut: !ended || exitCode === 137 };
  }
}

class LimitedText {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  add(chunk: Buffer): void {
    if (this.size >= this.limit) return;
    const part = chunk.subarray(0, this.limit - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function waitForEnd(stream: NodeJS.ReadableStream, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      resolve(true);
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** Treats "no such resource" (404) and "removal already in progress" (409) as success. */
async function ignoreGone(removal: Promise<unknown>): Promise<void> {
  try {
    await removal;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404 || status === 409) return;
    throw error;
  }
}
