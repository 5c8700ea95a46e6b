// Route files for the router image: one nginx file per project, rendered from the web
// container's VIRTUAL_HOST and HTTP_EXPOSE settings, as DDEV renders one Traefik file per
// project from the same two settings (.ddev/traefik/config/<project>.yaml, DDEV v1.25.3).

/** The HTTP ports the router listens on: DDEV's router port 80 and its Mailpit port 8025. */
export const ROUTER_HTTP_PORTS: readonly number[] = [80, 8025];

export interface ProjectRoute {
  /** Project name; it also names the route file. */
  project: string;
  /** Host name or network alias of the project's web container on the router's network. */
  upstreamHost: string;
  /** Comma-separated host names, as in DDEV's VIRTUAL_HOST, for example `a.ddev.site`. */
  virtualHost: string;
  /** Comma-separated `routerPort:containerPort` pairs, as in DDEV's HTTP_EXPOSE. */
  httpExpose: string;
}

/**
 * HTTP_EXPOSE when a routed service sets none: router port 80 to container port 80. DDEV's web
 * service declares `${DDEV_ROUTER_HTTP_PORT}:80`, router port 80 by default, plus a Mailpit pair
 * (app_compose_template.yaml, DDEV v1.25.3).
 */
export const DEFAULT_HTTP_EXPOSE = '80:80';

const PROJECT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HOST_LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const HOST_PATTERN = new RegExp(`^(\\*\\.)?${HOST_LABEL}(\\.${HOST_LABEL})*$`);
const CONTAINER_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/**
 * Renders the route file of one project. Throws on a value that is not a plain host name,
 * project name or port, because each one ends up in nginx configuration.
 */
export function renderRouteFile(route: ProjectRoute): string {
  checkRoute(route);
  const hosts = splitList(route.virtualHost).map((host) => host.toLowerCase());
  const exposures = parseHttpExpose(route.httpExpose);

  const servers = exposures.map(({ routerPort, containerPort }) =>
    [
      'server {',
      `    listen ${routerPort};`,
      `    server_name ${hosts.join(' ')};`,
      '    location / {',
      `        set $upstream http://${route.upstreamHost}:${containerPort};`,
      '        proxy_pass $upstream;',
      '        proxy_set_header Host $host;',
      '        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      '        proxy_set_header X-Forwarded-Host $host;',
      '        proxy_set_header X-Forwarded-Proto $scheme;',
      '    }',
      '}',
    ].join('\n'),
  );

  const header = [
    `# Route of project ${route.project}, rendered by the ddev-lab lab server from`,
    `# VIRTUAL_HOST=${route.virtualHost} and HTTP_EXPOSE=${route.httpExpose}.`,
  ].join('\n');

  return `${header}\n${servers.join('\n\n')}\n`;
}

/**
 * Returns the route of one lab service, or undefined when its environment has no VIRTUAL_HOST.
 * The service name is the upstream, because Docker's DNS resolves it on the session network.
 */
export function serviceRoute(
  name: string,
  service: { environment: Record<string, string>; project?: string },
): ProjectRoute | undefined {
  const virtualHost = service.environment.VIRTUAL_HOST;
  if (virtualHost === undefined) return undefined;

  return {
    project: service.project ?? name,
    upstreamHost: name,
    virtualHost,
    httpExpose: service.environment.HTTP_EXPOSE ?? DEFAULT_HTTP_EXPOSE,
  };
}

/** True for a name that router-route accepts as a project, and so as a route file name. */
export function isProjectName(value: string): boolean {
  return PROJECT_PATTERN.test(value);
}

/** Parses HTTP_EXPOSE into port pairs; a bare port means the same port on both sides. */
export function parseHttpExpose(
  httpExpose: string,
): Array<{ routerPort: number; containerPort: number }> {
  return splitList(httpExpose).map((pair) => {
    const [router, container = router] = pair.split(':');
    const routerPort = parsePort(router, httpExpose);
    const containerPort = parsePort(container, httpExpose);

    if (!ROUTER_HTTP_PORTS.includes(routerPort)) {
      throw new Error(
        `HTTP_EXPOSE=${httpExpose} uses router port ${routerPort}; ` +
          `the router listens only on ${ROUTER_HTTP_PORTS.join(' and ')}.`,
      );
    }
    return { routerPort, containerPort };
  });
}

function checkRoute(route: ProjectRoute): void {
  if (!PROJECT_PATTERN.test(route.project)) {
    throw new Error(
      `Invalid project name "${route.project}"; use lowercase letters, digits and hyphens.`,
    );
  }
  if (!CONTAINER_PATTERN.test(route.upstreamHost)) {
    throw new Error(
      `Invalid upstream host "${route.upstreamHost}"; use a container name or alias.`,
    );
  }

  const hosts = splitList(route.virtualHost);
  if (hosts.length === 0) throw new Error(`VIRTUAL_HOST of project ${route.project} is empty.`);
  for (const host of hosts) {
    if (!HOST_PATTERN.test(host.toLowerCase())) {
      throw new Error(
        `Invalid host name "${host}" in VIRTUAL_HOST; use a DNS name like a.ddev.site.`,
      );
    }
  }
}

function parsePort(value: string | undefined, httpExpose: string): number {
  const port = Number(value);

  if (!/^\d{1,5}$/.test(value ?? '') || port < 1 || port > 65_535) {
    throw new Error(
      `Invalid port "${value}" in HTTP_EXPOSE=${httpExpose}; use routerPort:containerPort.`,
    );
  }
  return port;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
