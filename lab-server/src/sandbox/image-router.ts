// Installs, removes and lists project routes in a running router container by running its
// router-route command in the container, so the router needs no Docker socket. router-route runs
// as ddev, the user nginx runs as, and it needs nginx running to reload it.
import { isProjectName } from '../images/router-routes.ts';
import type { SandboxRuntime } from './runtime.ts';

type CommandRunner = Pick<SandboxRuntime, 'runCommand'>;

/** router-route checks the file with `nginx -t` and waits up to 5 s for the new workers. */
const ROUTER_ROUTE_TIMEOUT_SECONDS = 30;

/** Writes a project's route file into the router and reloads it; throws when nginx rejects it. */
export async function putRoute(
  runtime: CommandRunner,
  routerContainerId: string,
  project: string,
  routeFile: string,
): Promise<void> {
  await runRouterRoute(runtime, routerContainerId, `put ${checkedProject(project)}`, routeFile);
}

/** Removes a project's route file from the router and reloads it. */
export async function removeRoute(
  runtime: CommandRunner,
  routerContainerId: string,
  project: string,
): Promise<void> {
  await runRouterRoute(runtime, routerContainerId, `remove ${checkedProject(project)}`);
}

/** Lists the projects that have a route file in the router, sorted. */
export async function listRoutes(
  runtime: CommandRunner,
  routerContainerId: string,
): Promise<string[]> {
  const output = await runRouterRoute(runtime, routerContainerId, 'list');
  return output.split('\n').filter((line) => line.length > 0);
}

async function runRouterRoute(
  runtime: CommandRunner,
  containerId: string,
  args: string,
  input?: string,
): Promise<string> {
  const result = await runtime.runCommand(containerId, {
    user: 'ddev',
    command: `router-route ${args}`,
    timeoutSeconds: ROUTER_ROUTE_TIMEOUT_SECONDS,
    input,
  });

  if (result.exitCode !== 0) {
    const message = `${result.stdout}\n${result.stderr}`.trim();
    throw new Error(`router-route ${args} failed (exit ${result.exitCode}): ${message}`);
  }
  return result.stdout;
}

/** The project name goes into a shell command line, so it must be a plain name. */
function checkedProject(project: string): string {
  if (isProjectName(project)) return project;
  throw new Error(`Invalid project name "${project}". Use lowercase letters, digits and hyphens.`);
}
