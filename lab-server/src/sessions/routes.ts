// The routes of a lab's projects in its router. Once the services are healthy, the lab server
// writes one route file per service whose environment sets VIRTUAL_HOST, as `ddev start` renders
// .ddev/traefik/config/<project>.yaml from the web service's VIRTUAL_HOST and HTTP_EXPOSE
// (DDEV v1.25.3). The router gets the files through router-route, without the Docker socket.
import { LabError } from '../errors.ts';
import { renderRouteFile, serviceRoute, type ProjectRoute } from '../images/router-routes.ts';
import type { Lab } from '../labs/schema.ts';
import type { Logger } from '../log.ts';
import { listRoutes, putRoute } from '../sandbox/image-router.ts';
import type { Sandbox, SandboxRuntime } from '../sandbox/runtime.ts';

/** Raised when a route cannot be rendered from a service's settings or the router rejects it. */
export class RouteError extends LabError {
  constructor(labId: string, service: string, route: ProjectRoute, detail: string, fix: string) {
    super(
      'RouteFailed',
      500,
      `The route of service "${service}" in lab "${labId}" (project ${route.project}, ` +
        `VIRTUAL_HOST=${route.virtualHost}, HTTP_EXPOSE=${route.httpExpose}) failed: ${detail} ${fix}`,
    );
  }
}

export interface ServiceRoute {
  service: string;
  route: ProjectRoute;
}

export interface RouteContext {
  runtime: Pick<SandboxRuntime, 'runCommand'>;
  log: Logger;
}

/** Returns the services of the lab that run the router image. */
export function routerServices(lab: Lab): string[] {
  return Object.entries(lab.services)
    .filter(([, service]) => service.image === 'router')
    .map(([name]) => name);
}

/** Returns one route per service with VIRTUAL_HOST, in the order the lab lists its services. */
export function serviceRoutes(lab: Lab): ServiceRoute[] {
  return Object.entries(lab.services).flatMap(([name, service]) => {
    const route = serviceRoute(name, service);
    return route ? [{ service: name, route }] : [];
  });
}

/**
 * Writes the lab's routes into each of its routers, which must be running nginx. With
 * `missingOnly`, a project that already has a route file keeps it: a sandbox adopted after a
 * restart has its routes, which the learner may have changed since.
 */
export async function writeRoutes(
  context: RouteContext,
  sandbox: Sandbox,
  lab: Lab,
  options: { missingOnly?: boolean } = {},
): Promise<void> {
  const routers = routerServices(lab);
  const routes = serviceRoutes(lab);
  if (routers.length === 0 || routes.length === 0) return;

  // Rendered before the first is installed, so a bad setting leaves the router as it was.
  const files = routes.map((entry) => ({ ...entry, file: render(lab, entry) }));

  for (const router of routers) {
    const containerId = sandbox.containers[router]!;
    const present = options.missingOnly ? await listRoutes(context.runtime, containerId) : [];

    for (const { service, route, file } of files) {
      if (present.includes(route.project)) continue;
      await install(context, containerId, lab, { service, route }, file);
      context.log.info(
        { sessionId: sandbox.sessionId, labId: lab.id, service, project: route.project, router },
        'route written',
      );
    }
  }
}

function render(lab: Lab, { service, route }: ServiceRoute): string {
  try {
    return renderRouteFile(route);
  } catch (error) {
    const fix = `Fix services.${service}.environment in the definition of lab "${lab.id}".`;
    throw new RouteError(lab.id, service, route, (error as Error).message, fix);
  }
}

async function install(
  context: RouteContext,
  containerId: string,
  lab: Lab,
  { service, route }: ServiceRoute,
  file: string,
): Promise<void> {
  try {
    await putRoute(context.runtime, containerId, route.project, file);
  } catch (error) {
    const fix = "Reset the lab. If it fails again, read the router container's log.";
    throw new RouteError(lab.id, service, route, (error as Error).message, fix);
  }
}
