// Checks of the Docker Engine at start: reject a runc that a learner could escape through, and
// warn about what weakens isolation without breaking it.
import { LabError } from '../errors.ts';
import type { EngineFacts } from '../sandbox/runtime.ts';
import { openEscapes } from './runc.ts';

export type RuncPolicy = 'learner' | 'strict';

export class UnsafeRuntimeError extends LabError {
  constructor(message: string) {
    super('UnsafeRuntime', 500, message);
  }
}

/**
 * Returns the runc policy that LAB_RUNC_POLICY=auto stands for. Learners may build images (a
 * lab's `docker` command, a web-build Restart), so an escape through a crafted image is within
 * their reach. On loopback without a reverse proxy the only learner is the person at this
 * machine. A server that listens beyond loopback or trusts a proxy serves a room, so it is strict.
 */
export function effectiveRuncPolicy(
  setting: RuncPolicy | 'auto',
  host: string,
  trustProxy: readonly string[],
): RuncPolicy {
  if (setting !== 'auto') return setting;
  return isLoopback(host) && trustProxy.length === 0 ? 'learner' : 'strict';
}

/** The keeper of the containers' disk quota: the engine, or the server's measurements. */
export type DiskPolicy = 'enforced' | 'measured';

/**
 * Returns the disk policy that LAB_DISK_POLICY=auto stands for. A measured quota lets a fast write
 * or an instant `fallocate` pass it for up to one measurement interval. So a room's server needs
 * the engine to enforce it, while on loopback alone the only learner is the person at this machine.
 */
export function effectiveDiskPolicy(
  setting: DiskPolicy | 'auto',
  host: string,
  trustProxy: readonly string[],
): DiskPolicy {
  if (setting !== 'auto') return setting;
  return isLoopback(host) && trustProxy.length === 0 ? 'measured' : 'enforced';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export interface EngineVerdict {
  warnings: string[];
}

/**
 * Throws UnsafeRuntimeError when runc has an escape open to learners ('learner' policy) or any
 * known escape ('strict'), or when the disk policy needs engine quotas the engine lacks; returns
 * the warnings otherwise.
 */
export function checkEngine(
  facts: EngineFacts,
  policy: RuncPolicy,
  diskPolicy: DiskPolicy = 'measured',
): EngineVerdict {
  if (diskPolicy === 'enforced' && !facts.storageQuota) {
    throw new UnsafeRuntimeError(
      "The Docker Engine cannot cap a container's writable layer (that needs the overlay2 storage driver on xfs mounted with pquota), " +
        'and a server for a room needs it: a measured quota lets a learner pass it for a moment, enough to fill the disk. ' +
        'Move /var/lib/docker to such a filesystem, or, to accept measured quotas, set LAB_DISK_POLICY=measured and give /var/lib/docker a filesystem of its own.',
    );
  }

  const escapes = openEscapes(facts.runcVersion);
  const fatal = escapes.filter((escape) => policy === 'strict' || escape.learnerReachable);
  const version = facts.runcVersion ?? 'an unknown version';

  if (fatal.length > 0) {
    const list = fatal.map(
      (escape) => `${escape.cve} (${escape.summary}; fixed in runc ${escape.fixedIn.join(', ')})`,
    );
    const optOut = fatal.every((escape) => !escape.learnerReachable)
      ? ' These escapes need a crafted image; to accept that risk with trusted learners, set LAB_RUNC_POLICY=learner.'
      : '';
    throw new UnsafeRuntimeError(
      `The Docker Engine uses runc ${version}, which has known container escapes: ${list.join('; ')}. ` +
        `Upgrade runc (or the docker/containerd package that ships it) to a fixed version, then start again.${optOut}`,
    );
  }

  const warnings = escapes.map(
    (escape) =>
      `runc ${version} is open to ${escape.cve}: ${escape.summary}. Learners can build images in some labs, ` +
      `so this is acceptable only while the learners are trusted, as on one person's own machine; upgrade runc ` +
      `to ${escape.fixedIn.join(' or ')} or newer before serving a room (LAB_RUNC_POLICY=auto refuses to listen beyond loopback until then).`,
  );
  if (!facts.userNamespaces) {
    warnings.push(
      'User namespaces are off in the Docker Engine, so root in a container is root on the host kernel. ' +
        'Set "userns-remap": "default" in /etc/docker/daemon.json for a stronger boundary.',
    );
  }
  if (!facts.seccomp) {
    warnings.push(
      'The Docker Engine runs without seccomp, so containers may make every system call. Use an engine built with seccomp.',
    );
  }
  if (!facts.storageQuota) {
    warnings.push(
      "The engine cannot cap a container's writable layer (that needs overlay2 on xfs with pquota), " +
        'so the lab server measures the layers and stops sandboxes that pass their quota instead.',
    );
  }
  return { warnings };
}
