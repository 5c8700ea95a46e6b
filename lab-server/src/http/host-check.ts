// The host names this server accepts. A web page cannot choose the Host header its browser sends,
// but its author can point their own DNS name at this machine (DNS rebinding): the browser then
// treats the lab server as the author's site and lets the page read its answers. Refusing every
// Host that is not a name of this server closes that door, for HTTP and WebSocket alike.
//
// The port is not compared: a rebinding page controls only the name, and a port check would
// refuse the dev site's proxy (`npm run dev` forwards with its own port) and SSH tunnels.
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

import { LabError } from '../errors.ts';

export interface HostCheckSettings {
  /** The address the server listens on (LAB_HOST). */
  host: string;
  /** LAB_ALLOWED_HOSTS: names of a reverse proxy or DNS names, without scheme. */
  allowedHosts: readonly string[];
  /** LAB_ALLOWED_ORIGINS: their host names count as the server's names too. */
  allowedOrigins: readonly string[];
}

/** Reader of the names this machine is reached by when it listens on every address. It is called again when a name is not found. */
export type MachineNames = () => string[];

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
/** A host name or address as a Host header spells it, port removed: letters, digits, dots, dashes, colons (IPv6). */
const HOST_NAME = /^[a-z0-9.:-]+$/;
/** How often a Host that is not known may trigger a fresh read of the machine's addresses. */
const REFRESH_MS = 5000;

/**
 * Returns the host name of a Host header, lower case, without port, brackets or final dot, or
 * undefined when the header is not a plain host[:port].
 */
export function hostNameOf(header: string): string | undefined {
  const value = header.trim().toLowerCase();
  let name: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end === -1 || !/^(:\d{1,5})?$/.test(value.slice(end + 1))) return undefined;
    name = value.slice(1, end);
  } else {
    const match = /^([^:]*)(:\d{1,5})?$/.exec(value);
    if (!match) return undefined;
    name = match[1]!;
  }
  name = name.replace(/\.$/, '');
  return name !== '' && HOST_NAME.test(name) ? name : undefined;
}

/** Reads the machine's own addresses and host name, for a server that listens on every address. */
export function readMachineNames(): string[] {
  const addresses = Object.values(networkInterfaces())
    .flat()
    .flatMap((entry) => (entry ? [entry.address.toLowerCase()] : []));
  const name = hostname().toLowerCase();
  return [...addresses, name, `${name}.local`];
}

/**
 * Builds the check of a request's Host header. Allowed: the loopback names and any *.localhost
 * (browsers resolve those to loopback themselves), the listen address, the machine's addresses
 * and host name when listening on every address, and the names in LAB_ALLOWED_HOSTS and
 * LAB_ALLOWED_ORIGINS. A request without Host (HTTP/1.0) passes: browsers always send one.
 */
export function createHostCheck(
  settings: HostCheckSettings,
  machineNames: MachineNames = readMachineNames,
): (header: string | undefined) => boolean {
  const fixed = new Set<string>(LOOPBACK_NAMES);
  const listen = settingName(settings.host);
  if (listen && !listensOnAll(settings.host)) fixed.add(listen);
  for (const entry of settings.allowedHosts) {
    const name = settingName(entry);
    if (name) fixed.add(name);
  }
  for (const origin of settings.allowedOrigins) {
    const name = originHostName(origin);
    if (name) fixed.add(name);
  }

  const onAll = listensOnAll(settings.host);
  let machine = new Set(onAll ? machineNames() : []);
  let readAt = Date.now();

  return (header) => {
    if (header === undefined) return true;
    const name = hostNameOf(header);
    if (name === undefined) return false;
    if (fixed.has(name) || name.endsWith('.localhost') || machine.has(name)) return true;
    // An address added after the start (a new network, a DHCP lease) counts once it is read.
    if (onAll && Date.now() - readAt >= REFRESH_MS) {
      machine = new Set(machineNames());
      readAt = Date.now();
      return machine.has(name);
    }
    return false;
  };
}

/** Returns the 421 error for a Host that is not one of this server's names, naming the setting that adds one. */
export function misdirected(header: string): LabError {
  const quoted = header.length > 100 ? `${header.slice(0, 100)}...` : header;
  return new LabError(
    'MisdirectedRequest',
    421,
    `The host "${quoted}" is not a name of this lab server. ` +
      'If learners reach the server by that name (a reverse proxy or a DNS name), add it to LAB_ALLOWED_HOSTS and restart the server.',
  );
}

/** Returns the host name of a setting's entry, where an IPv6 address may come without brackets. */
export function settingName(value: string): string | undefined {
  return isIP(value) === 6 ? value.toLowerCase() : hostNameOf(value);
}

/** Returns true when the server listens on every address of the machine, as room.ts decides. */
function listensOnAll(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function originHostName(origin: string): string | undefined {
  try {
    return hostNameOf(new URL(origin).host);
  } catch {
    return undefined;
  }
}
