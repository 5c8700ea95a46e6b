// Capability policy for sandbox containers. It lives on the server, keyed by the teaching image's
// tag, and an image's own labels never grant anything, because a learner may build images.
import { DEBIAN_RELEASES, IMAGE_NAMES, imageTag, type ImageName } from '../images/catalog.ts';

// Images whose processes start as an unprivileged user and never change user, so they need no
// capability at all: the web stack runs as `ddev` from PID 1 on, as DDEV's web container runs as
// the host user.
const NO_CAPABILITIES: ReadonlySet<string> = new Set([
  'base',
  'php-base',
  'webserver',
  'webserver-squashed',
  'workbench',
]);

// Images whose entrypoint starts as root and drops to a service user (MariaDB's `mysql`,
// PostgreSQL's `postgres`, the router's nginx workers): they switch user and fix the ownership of
// their data folders. NET_RAW and MKNOD are never granted.
const SERVICE_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'KILL',
  'NET_BIND_SERVICE',
  'SETGID',
  'SETUID',
];

const byTag = new Map<string, string[]>();
for (const name of IMAGE_NAMES) {
  for (const release of DEBIAN_RELEASES) {
    byTag.set(
      imageTag(name as ImageName, release),
      NO_CAPABILITIES.has(name) ? [] : SERVICE_CAPABILITIES,
    );
  }
}

/** Returns the capabilities a container of this image gets on top of none; unknown images get none. */
export function capabilitiesFor(tag: string): string[] {
  return [...(byTag.get(tag) ?? [])];
}

/**
 * Capabilities of the containers that run a build's RUN steps, on top of none: what package
 * installs and user setup need (owners and modes of files, switching to apt's `_apt` user,
 * ending their own processes). NET_RAW, MKNOD and SYS_ADMIN are never granted.
 */
export const BUILD_STEP_CAPABILITIES: readonly string[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
];
