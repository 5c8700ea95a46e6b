// The network that learners' image builds run on. A build needs Debian's archive for
// `apt-get install`, so unlike a session network it is not internal; its bridge name starts with
// the session prefix, so the host firewall keeps builds from this host's services and from
// private and link-local addresses (cloud metadata among them) as it does sandboxes.
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';

import { BRIDGE_PREFIX } from './docker-runtime.ts';
import { labelFilter, LABELS, managedLabels } from './labels.ts';

/** Returns the name of this instance's build network, creating it when it is missing. */
export async function ensureBuildNetwork(docker: Docker, instance: string): Promise<string> {
  const name = `ddevlab-${instance}-build`;
  const labels = { [LABELS.managed]: 'true', [LABELS.instance]: instance, [LABELS.kind]: 'network', [LABELS.service]: 'build' };
  const existing = await docker.listNetworks({ filters: JSON.stringify(labelFilter(labels)) });
  if (existing.length > 0) return existing[0]!.Name;

  // Linux limits interface names to 15 characters: the prefix, "b" and 11 hex digits.
  const suffix = createHash('sha256').update(instance).digest('hex').slice(0, 11);
  try {
    await docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      CheckDuplicate: true,
      Labels: { ...managedLabels({ kind: 'network', instance, service: 'build' }) },
      Options: { 'com.docker.network.bridge.name': `${BRIDGE_PREFIX}b${suffix}` },
    });
  } catch (error) {
    // Two builds starting at once both create it; the loser finds the winner's network.
    if ((error as { statusCode?: number }).statusCode !== 409) throw error;
  }
  return name;
}
