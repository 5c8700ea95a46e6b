// Keeps sandboxes and learners' image builds away from the host and its neighbours.
//
// Session networks are `internal`, so Docker already drops their traffic to other networks and
// the internet. But the host owns an address on every bridge, and a packet for any host address
// that arrives from a bridge goes to the INPUT chain, which Docker leaves open. The first rule
// closes it for every bridge whose name has the session prefix. New connections to the host are
// dropped, while the lab server's own connections into a sandbox, and their replies, still pass.
//
// A session's build network is internal too, unless its lab sets `projectBuild.egress` so that
// a Restart can install from Debian's archive. For such a network the other rules, in Docker's
// DOCKER-USER chain for forwarded traffic, keep it from private and link-local addresses:
// other hosts of the local network and cloud metadata services.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

import type { Logger } from '../log.ts';
import { EGRESS_BRIDGE_PREFIX } from '../sandbox/build-network.ts';
import { BRIDGE_PREFIX } from '../sandbox/docker-runtime.ts';

const run = promisify(execFile);
const COMMENT = ['-m', 'comment', '--comment', 'ddev-lab sandbox isolation'];
const BRIDGES = ['-i', `${BRIDGE_PREFIX}+`];

const PRIVATE_RANGES = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
];

/**
 * Builds the rules. Each is inserted at the top of its chain in this order, so a rule listed later
 * comes first: the resolvers' exceptions end up ahead of the drops.
 */
export function firewallRules(resolvers: string[]): string[][] {
  return [
    ['INPUT', ...BRIDGES, '-m', 'conntrack', '--ctstate', 'NEW', ...COMMENT, '-j', 'DROP'],
    // Bridged traffic between two containers of one session also passes the FORWARD chain (Docker
    // turns on br_netfilter), so the rules skip packets that leave through a session bridge; Docker's
    // own isolation rules already drop those between different bridges.
    ...PRIVATE_RANGES.map((range) => [
      'DOCKER-USER',
      ...BRIDGES,
      '!',
      '-o',
      `${BRIDGE_PREFIX}+`,
      '-d',
      range,
      ...COMMENT,
      '-j',
      'DROP',
    ]),
    // Docker's embedded DNS server forwards a container's queries from the container's own
    // network, so the host's resolvers, often at a private address, must stay reachable on port 53
    // from the build networks with egress. Only from those: an ACCEPT here comes before Docker's
    // own isolation rules, so on an internal network it would open a way out.
    ...resolvers.flatMap((resolver) =>
      ['udp', 'tcp'].map((protocol) => [
        'DOCKER-USER',
        '-i',
        `${EGRESS_BRIDGE_PREFIX}+`,
        '-d',
        `${resolver}/32`,
        '-p',
        protocol,
        '--dport',
        '53',
        ...COMMENT,
        '-j',
        'ACCEPT',
      ]),
    ),
  ];
}

/** Reads the IPv4 name servers of /etc/resolv.conf, the ones Docker's embedded DNS forwards to. */
export async function hostResolvers(file = '/etc/resolv.conf'): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return [...text.matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((match) => match[1]!);
}

/**
 * Adds each rule unless it is there; returns false, with a warning, where it cannot. Session
 * and build networks have no IPv6 (Docker's default), so IPv4 is the only path to guard.
 */
export async function installHostFirewall(log: Logger): Promise<boolean> {
  const rules = firewallRules(await hostResolvers());
  try {
    const { stdout } = await run('iptables', ['-w', '-S', 'DOCKER-USER']);
    for (const rule of staleRules(stdout)) await run('iptables', ['-w', '-D', ...rule]);

    for (const rule of rules) {
      const present = await run('iptables', ['-w', '-C', ...rule]).then(
        () => true,
        () => false,
      );
      if (!present) await run('iptables', ['-w', '-I', ...rule]);
    }
    log.info({ rules: rules.length }, 'host firewall rules are in place');
    return true;
  } catch (error) {
    log.warn(
      { err: error },
      "adding the host firewall rules failed, so sandboxes can open connections to services on this host's addresses; run the lab server as root with iptables installed",
    );
    return false;
  }
}

/**
 * Returns the rules an earlier version added that no longer apply, as arguments for `iptables -D`:
 * the resolvers' exceptions for every session bridge, which would let an internal network reach
 * the resolvers past Docker's isolation.
 */
export function staleRules(listing: string): string[][] {
  return listing
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('-A DOCKER-USER ') &&
        line.includes(COMMENT[3]!) &&
        line.includes(`-i ${BRIDGE_PREFIX}+ `) &&
        line.endsWith('-j ACCEPT'),
    )
    .map((line) =>
      [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!).slice(1),
    );
}
