// The network that a session's web-build Restarts run their RUN steps on. Each session gets its
// own, so two learners' builds never share a bridge, and its bridge name starts with the session
// prefix, so the host firewall keeps builds from this host's services and from private and
// link-local addresses (cloud metadata among them) as it does sandboxes. A build reaches the
// internet only when its lab sets `projectBuild.egress`, for `apt-get install` from Debian's
// archive. Otherwise its network is internal: the engine drops its traffic to anything outside.
// A network's internal flag cannot change, so the two kinds have different names and labels.
// It carries the session's labels and goes with the session.
import type Docker from 'dockerode';

import { BRIDGE_PREFIX } from './docker-runtime.ts';
import { labelFilter, LABELS, managedLabels } from './labels.ts';
import { createOnFreeSubnet, DEFAULT_SUBNET_POOL, gatewayOf, type SubnetPool } from './subnets.ts';

/** The bridge names of build networks that reach the internet; the host firewall matches them. */
export const EGRESS_BRIDGE_PREFIX = `${BRIDGE_PREFIX}x`;

/** Returns the name of the session's build network of that kind, creating it when it is missing. */
export async function ensureBuildNetwork(
  docker: Docker,
  instance: string,
  sessionId: string,
  egress: boolean,
  pool: SubnetPool = DEFAULT_SUBNET_POOL,
): Promise<string> {
  const service = egress ? 'build' : 'build-internal';
  const name = `ddevlab-${instance}-${service}-${sessionId}`;
  const labels = {
    [LABELS.managed]: 'true',
    [LABELS.instance]: instance,
    [LABELS.session]: sessionId,
    [LABELS.service]: service,
  };
  const existing = await docker.listNetworks({ filters: JSON.stringify(labelFilter(labels)) });
  if (existing.length > 0) return existing[0]!.Name;

  try {
    // A subnet of the lab server's pool, as for session networks. Docker's default pools hold 31
    // networks (172.17.0.0/16 to 172.31.0.0/16, and 192.168.0.0/16 in /20s), which a room of
    // learners pressing Restart would use up.
    await createOnFreeSubnet(docker, pool, (subnet) =>
      docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        Internal: !egress,
        CheckDuplicate: true,
        Labels: managedLabels({ kind: 'network', instance, sessionId, service }),
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: gatewayOf(subnet) }] },
        // Linux limits interface names to 15 characters: the prefix, one letter and 11 hex
        // digits. The letter is not a hex digit, so no session bridge name can match it.
        Options: {
          'com.docker.network.bridge.name': `${egress ? EGRESS_BRIDGE_PREFIX : `${BRIDGE_PREFIX}i`}${sessionId.slice(0, 11)}`,
        },
      }),
    );
  } catch (error) {
    // Two builds of one session starting at once both create it; the second finds the first's.
    if ((error as { statusCode?: number }).statusCode !== 409) throw error;
  }
  return name;
}
