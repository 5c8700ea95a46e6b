// Keeps sandboxes away from the services of the host they run on. Session networks are
// `internal`, so Docker already drops their traffic to other networks and the internet; but the
// host itself owns an address on every bridge, and a packet for any host address arriving from a
// bridge goes to the host's INPUT chain, which Docker leaves open. One rule closes it for every
// session bridge (their names share a prefix): new connections from them to the host are dropped,
// while the lab server's own connections into a sandbox, and their replies, still pass.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { Logger } from '../log.ts';
import { BRIDGE_PREFIX } from '../sandbox/docker-runtime.ts';

const run = promisify(execFile);

export const FIREWALL_RULE = [
  'INPUT',
  '-i', `${BRIDGE_PREFIX}+`,
  '-m', 'conntrack', '--ctstate', 'NEW',
  '-m', 'comment', '--comment', 'ddev-lab: sandboxes may not open connections to this host',
  '-j', 'DROP',
];

/**
 * Adds the rule unless it is there; returns false, with a warning, where it cannot. Session
 * networks have no IPv6 (Docker's default), so IPv4 is the only path to guard.
 */
export async function installHostFirewall(log: Logger): Promise<boolean> {
  try {
    const present = await run('iptables', ['-w', '-C', ...FIREWALL_RULE]).then(() => true, () => false);
    if (!present) await run('iptables', ['-w', '-I', ...FIREWALL_RULE]);
    log.info({ rule: FIREWALL_RULE.join(' ') }, present ? 'host firewall rule is in place' : 'host firewall rule added');
    return true;
  } catch (error) {
    log.warn(
      { err: error },
      "adding the host firewall rule failed, so sandboxes can open connections to services on this host's addresses; run the lab server as root with iptables installed",
    );
    return false;
  }
}
