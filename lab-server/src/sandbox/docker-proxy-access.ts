// How a sandbox service gets the learner's `docker` command: the lab server opens a Docker API
// proxy for the session on a Unix socket of its own, and the sandbox mounts that one socket,
// never the engine's, into each service whose lab asks for `docker: true`.
import type { SandboxLimits, ServiceSpec } from './runtime.ts';

/** Where the session's proxy socket appears inside a container; the workbench image expects it. */
export const PROXY_SOCKET_TARGET = '/run/ddev-lab/docker.sock';

export interface DockerAccessSession {
  instance: string;
  sessionId: string;
  labId: string;
  networkId: string;
  expiresAt: number;
  limits: SandboxLimits;
}

/** Opens and closes the per-session proxies; implemented in docker-proxy/. */
export interface DockerAccessProvider {
  /** Starts the session's proxy and returns the host path of its socket. */
  open(session: DockerAccessSession): Promise<string>;
  /** Stops the proxy and removes what the learner made through it; safe to call twice. */
  close(sessionId: string): Promise<void>;
}

/** True when the lab gave this service the learner's `docker` command. */
export function wantsDocker(service: ServiceSpec): boolean {
  return (service as ServiceSpec & { docker?: boolean }).docker === true;
}

/** The mount and environment that give a container its session's proxy socket. */
export function dockerAccessConfig(socketPath: string): {
  mount: { Type: 'bind'; Source: string; Target: string };
  env: string;
} {
  return {
    mount: { Type: 'bind', Source: socketPath, Target: PROXY_SOCKET_TARGET },
    env: `DOCKER_HOST=unix://${PROXY_SOCKET_TARGET}`,
  };
}
