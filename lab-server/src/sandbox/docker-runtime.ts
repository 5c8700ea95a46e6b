// SandboxRuntime on a Docker Engine, through dockerode. Every resource is labelled from
// managedLabels() and found again by label only.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

import { statusOf, waitForEnd } from './docker-calls.ts';
import { createDockerClient, assertDockerReachable } from './docker-client.ts';
import { openTerminal } from './docker-terminal.ts';
import { inspectEngine, measureWritableLayers } from './engine-inspection.ts';
import { labelFilter, LABELS, managedLabels } from './labels.ts';
import { capabilitiesFor } from './policy.ts';
import { createOnFreeSubnet, DEFAULT_SUBNET_POOL, gatewayOf, type SubnetPool } from './subnets.ts';
import {
  dockerAccessConfig,
  wantsDocker,
  type DockerAccessProvider,
} from './docker-proxy-access.ts';
import type {
  CommandOptions,
  CommandResult,
  EngineFacts,
  EngineGuards,
  WritableLayer,
  RemovalCount,
  Sandbox,
  SandboxRuntime,
  SandboxSpec,
  ServiceSpec,
  TerminalOptions,
  TerminalProcess,
} from './runtime.ts';

/** Prefix of every session bridge's interface name, so one host firewall rule covers them all. */
export const BRIDGE_PREFIX = 'dl-';

const OUTPUT_LIMIT_BYTES = 64 * 1024;

export class DockerRuntime implements SandboxRuntime, EngineGuards {
  readonly docker: Docker;
  /** Set by inspectEngine(): whether containers get a StorageOpt size. */
  storageQuota = false;
  /** Address range that session networks are carved from. */
  subnetPool: SubnetPool = DEFAULT_SUBNET_POOL;
  /** Opens each session's Docker proxy, for services with `docker: true`; main.ts sets it. */
  dockerAccess: DockerAccessProvider | undefined;

  constructor(docker: Docker = createDockerClient()) {
    this.docker = docker;
  }

  async ping(): Promise<void> {
    await assertDockerReachable(this.docker);
  }

  async inspectEngine(): Promise<EngineFacts> {
    const facts = await inspectEngine(this.docker);
    this.storageQuota = facts.storageQuota;
    return facts;
  }

  async measureWritableLayers(instance: string): Promise<WritableLayer[]> {
    return measureWritableLayers(this.docker, instance);
  }

  async containerAddress(containerId: string, networkId: string): Promise<string | undefined> {
    const info = await this.docker.getContainer(containerId).inspect();
    const endpoint = Object.values(info.NetworkSettings.Networks).find(
      (network) => network.NetworkID === networkId,
    );
    return endpoint?.IPAddress || undefined;
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
    const base = {
      instance: spec.instance,
      sessionId: spec.sessionId,
      labId: spec.labId,
      expiresAt: spec.expiresAt,
    };

    // An internal network: the session's containers reach each other by service name, and
    // nothing outside it.
    const network = await createOnFreeSubnet(this.docker, this.subnetPool, (subnet) =>
      this.docker.createNetwork({
        Name: `ddevlab-${spec.instance}-${spec.sessionId}`,
        Driver: 'bridge',
        Internal: true,
        CheckDuplicate: true,
        // The engine gives the bridge an address only when the gateway is named with the subnet;
        // the lab server reaches sandboxes through it.
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: gatewayOf(subnet) }] },
        Labels: managedLabels({ kind: 'network', ...base, pooled: spec.pooled }),
        // Linux limits interface names to 15 characters: the prefix and 12 hex digits of the id.
        Options: {
          'com.docker.network.bridge.name': `${BRIDGE_PREFIX}${spec.sessionId.slice(0, 12)}`,
        },
      }),
    );

    const sandbox: Sandbox = { sessionId: spec.sessionId, networkId: network.id, containers: {} };
    try {
      // The learner's `docker` command talks to a proxy of the session's own, never to the engine.
      let socketPath: string | undefined;
      if (spec.services.some(wantsDocker)) {
        if (!this.dockerAccess)
          throw new Error('a service asks for docker, but this runtime has no Docker proxy');
        socketPath = await this.dockerAccess.open({
          ...base,
          networkId: network.id,
          limits: spec.limits,
        });
      }

      const created = await Promise.all(
        spec.services.map(async (service) => {
          const container = await this.createContainer(spec, service, network.id, socketPath);
          await container.start();
          return [service.name, container.id] as const;
        }),
      );
      sandbox.containers = Object.fromEntries(created);
      return sandbox;
    } catch (error) {
      await this.dockerAccess?.close(spec.sessionId);
      await this.removeSandbox(spec.instance, spec.sessionId);
      throw error;
    }
  }

  private async createContainer(
    spec: SandboxSpec,
    service: ServiceSpec,
    networkId: string,
    dockerSocket?: string,
  ) {
    const labels = managedLabels({
      kind: 'sandbox',
      instance: spec.instance,
      sessionId: spec.sessionId,
      labId: spec.labId,
      service: service.name,
      expiresAt: spec.expiresAt,
      pooled: spec.pooled,
    });
    // The session's proxy socket alone is mounted, never the engine's and no other host path.
    const docker =
      dockerSocket && wantsDocker(service) ? dockerAccessConfig(dockerSocket) : undefined;

    return this.docker.createContainer({
      name: `ddevlab-${spec.instance}-${spec.sessionId}-${service.name}`,
      Image: service.imageTag,
      Cmd: service.command,
      Hostname: service.name,
      User: service.user,
      WorkingDir: service.workingDir,
      Env: [
        ...Object.entries(service.environment).map(([key, value]) => `${key}=${value}`),
        ...(docker ? [docker.env] : []),
      ],
      Labels: labels,
      Healthcheck: service.healthcheck && {
        Test: ['CMD-SHELL', service.healthcheck.test],
        Interval: service.healthcheck.intervalSeconds * 1e9,
        Timeout: 5e9,
        Retries: 30,
      },
      HostConfig: {
        NetworkMode: networkId,
        Mounts: docker ? [docker.mount] : undefined,
        Privileged: false,
        PublishAllPorts: false,
        CapDrop: ['ALL'],
        CapAdd: capabilitiesFor(service.imageTag),
        SecurityOpt: ['no-new-privileges:true'],
        Memory: spec.limits.memoryBytes,
        MemorySwap: spec.limits.memoryBytes,
        NanoCpus: spec.limits.nanoCpus,
        PidsLimit: spec.limits.pids,
        Ulimits: [{ Name: 'nofile', Soft: 4096, Hard: 8192 }],
        StorageOpt:
          spec.limits.diskBytes && this.storageQuota
            ? { size: String(spec.limits.diskBytes) }
            : undefined,
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
        RestartPolicy: { Name: 'no' },
      },
      NetworkingConfig: {
        EndpointsConfig: { [networkId]: { Aliases: [service.name] } },
      },
    });
  }

  async removeSandbox(instance: string, sessionId: string): Promise<RemovalCount> {
    // The session's Docker proxy goes first, with what the learner made through it; a sandbox
    // from the pool has no session end to close it otherwise. Its failure still removes the rest.
    const closeFailure = await this.dockerAccess?.close(sessionId).then(
      () => undefined,
      (error: unknown) => error,
    );
    const removed = await this.removeByLabels({
      [LABELS.managed]: 'true',
      [LABELS.instance]: instance,
      [LABELS.session]: sessionId,
    });
    if (closeFailure) throw closeFailure;
    return removed;
  }

  async sweep(instance: string, keep: ReadonlySet<string> = new Set()): Promise<RemovalCount> {
    return this.removeByLabels({ [LABELS.managed]: 'true', [LABELS.instance]: instance }, keep);
  }

  async findSandbox(instance: string, sessionId: string): Promise<Sandbox | undefined> {
    const filters = JSON.stringify(
      labelFilter({
        [LABELS.managed]: 'true',
        [LABELS.instance]: instance,
        [LABELS.session]: sessionId,
      }),
    );
    const networks = await this.docker.listNetworks({ filters });
    const containers = await this.docker.listContainers({ all: true, filters });
    if (networks.length !== 1) return undefined;

    const running = containers.filter(
      (info) =>
        info.State === 'running' &&
        info.Labels[LABELS.kind] === 'sandbox' &&
        info.Labels[LABELS.service],
    );
    const byService = running.map((info) => [info.Labels[LABELS.service]!, info.Id] as const);
    return { sessionId, networkId: networks[0]!.Id, containers: Object.fromEntries(byService) };
  }

  /** Removes what carries every label given, except what belongs to a session in `keep`. */
  private async removeByLabels(
    labels: Record<string, string>,
    keep: ReadonlySet<string> = new Set(),
  ): Promise<RemovalCount> {
    const filters = JSON.stringify(labelFilter(labels));
    const kept = (info: { Labels?: Record<string, string> | null }) =>
      keep.has(info.Labels?.[LABELS.session] ?? '');
    const containers = (await this.docker.listContainers({ all: true, filters })).filter(
      (info) => !kept(info),
    );
    await Promise.all(
      containers.map((info) =>
        ignoreGone(this.docker.getContainer(info.Id).remove({ force: true, v: true })),
      ),
    );

    const networks = (await this.docker.listNetworks({ filters })).filter((info) => !kept(info));
    await Promise.all(networks.map((info) => ignoreGone(this.docker.getNetwork(info.Id).remove())));

    return { containers: containers.length, networks: networks.length };
  }

  async openTerminal(containerId: string, options: TerminalOptions): Promise<TerminalProcess> {
    return openTerminal(this.docker, containerId, options);
  }

  async runCommand(containerId: string, options: CommandOptions): Promise<CommandResult> {
    const withInput = options.input !== undefined;

    // coreutils `timeout` kills the command inside the container; the timer below covers an
    // engine that stops answering.
    const exec = await this.docker.getContainer(containerId).exec({
      Cmd: ['timeout', '-s', 'KILL', String(options.timeoutSeconds), 'sh', '-c', options.command],
      AttachStdin: withInput,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: options.user,
    });

    const stream = await exec.start({ hijack: true, stdin: withInput });
    const stdout = new LimitedText(OUTPUT_LIMIT_BYTES);
    const stderr = new LimitedText(OUTPUT_LIMIT_BYTES);
    const stdoutSink = new PassThrough().on('data', (chunk: Buffer) => stdout.add(chunk));
    const stderrSink = new PassThrough().on('data', (chunk: Buffer) => stderr.add(chunk));
    this.docker.modem.demuxStream(stream, stdoutSink, stderrSink);
    // Ending the write side closes the command's standard input after the text.
    if (withInput) stream.end(options.input);

    const ended = await waitForEnd(stream, (options.timeoutSeconds + 5) * 1000);
    if (!ended) stream.destroy();

    const info = await exec.inspect();
    const exitCode = info.ExitCode ?? -1;
    return {
      exitCode,
      stdout: stdout.text(),
      stderr: stderr.text(),
      timedOut: !ended || exitCode === 137,
    };
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
