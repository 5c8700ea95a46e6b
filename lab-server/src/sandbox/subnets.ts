// Address space for session networks. Docker's default pools hold about 31 bridge networks
// (172.17.0.0/16 to 172.31.0.0/16, and 192.168.0.0/16 cut into /20s), and every session has a
// network of its own, so a room of learners would run out. The lab server instead carves small
// subnets out of one range of its own.
import type Docker from 'dockerode';

export interface SubnetPool {
  /** The range to carve from, in CIDR notation, for example "10.213.0.0/16". */
  range: string;
  /** Prefix length of each session's subnet; /27 gives 30 addresses. */
  prefix: number;
}

export const DEFAULT_SUBNET_POOL: SubnetPool = { range: '10.213.0.0/16', prefix: 27 };

const ATTEMPTS = 8;

export function parseCidr(cidr: string): { base: number; prefix: number } {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!match)
    throw new Error(`"${cidr}" is not an IPv4 range in CIDR notation, such as 10.213.0.0/16`);

  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((octet) => octet > 255) || prefix > 30)
    throw new Error(`"${cidr}" is not a valid IPv4 range`);

  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const size = 2 ** (32 - prefix);
  return { base: address - (address % size), prefix };
}

/** Returns the first host address of a subnet, which the bridge takes as its gateway. */
export function gatewayOf(subnet: string): string {
  return formatAddress(parseCidr(subnet).base + 1);
}

function formatAddress(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

function overlaps(
  a: { base: number; prefix: number },
  b: { base: number; prefix: number },
): boolean {
  const aEnd = a.base + 2 ** (32 - a.prefix);
  const bEnd = b.base + 2 ** (32 - b.prefix);
  return a.base < bEnd && b.base < aEnd;
}

/** Lists the pool's subnets that overlap none of the used ones, in random order. */
export function freeSubnets(pool: SubnetPool, used: string[]): string[] {
  const range = parseCidr(pool.range);
  if (pool.prefix < range.prefix || pool.prefix > 30) {
    throw new Error(
      `a /${pool.prefix} subnet does not fit in ${pool.range}; use a prefix from ${range.prefix} to 30`,
    );
  }

  const taken = used.flatMap((cidr) => {
    try {
      return [parseCidr(cidr)];
    } catch {
      return [];
    }
  });
  const step = 2 ** (32 - pool.prefix);
  const count = 2 ** (pool.prefix - range.prefix);
  const free: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const candidate = { base: range.base + index * step, prefix: pool.prefix };
    if (!taken.some((other) => overlaps(candidate, other)))
      free.push(`${formatAddress(candidate.base)}/${pool.prefix}`);
  }

  for (let index = free.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [free[index], free[other]] = [free[other]!, free[index]!];
  }
  return free;
}

/**
 * Creates a network on a free subnet of the pool. Several lab servers may share one engine, so a
 * subnet another one took a moment ago makes the engine refuse; the next free subnet is tried.
 */
export async function createOnFreeSubnet<T>(
  docker: Docker,
  pool: SubnetPool,
  create: (subnet: string) => Promise<T>,
): Promise<T> {
  const networks = await docker.listNetworks();
  const used = networks
    .flatMap((network) => (network.IPAM?.Config ?? []).map((config) => config.Subnet ?? ''))
    .filter(Boolean);
  const candidates = freeSubnets(pool, used).slice(0, ATTEMPTS);
  if (candidates.length === 0) {
    throw new Error(
      `every /${pool.prefix} subnet of ${pool.range} is in use; set LAB_SUBNET_POOL to a larger range`,
    );
  }

  let lastError: unknown;
  for (const subnet of candidates) {
    try {
      return await create(subnet);
    } catch (error) {
      lastError = error;
      if (!/overlap/i.test(String((error as Error).message))) throw error;
    }
  }
  throw lastError;
}
