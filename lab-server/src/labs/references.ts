// Cross-references inside one lab definition: every service, terminal and step id that a lab
// names must be defined, ids must be unique, and services may not depend on each other in a cycle.
// Routed services (VIRTUAL_HOST set) must render a valid route, one per project, for a router
// that has a health check.
import type { z } from 'zod';

import { renderRouteFile, serviceRoute } from '../images/router-routes.ts';
import { annotatedCommands, resolveTerminal } from './annotations.ts';

type Path = (string | number)[];

/** The parts of a parsed lab that references point into. */
interface LabShape {
  services: Record<string, LabServiceShape>;
  terminals: { id: string; service: string }[];
  web: { service: string }[];
  steps: {
    id: string;
    body: string;
    commands: { terminal?: string }[];
    check: { service: string };
    solution: { service?: string };
    setup?: { service?: string };
  }[];
}

interface LabServiceShape {
  image: string;
  environment: Record<string, string>;
  project?: string;
  healthcheck?: unknown;
  dependsOn: string[];
}

export function checkReferences(lab: LabShape, context: z.RefinementCtx): void {
  const report = (path: Path, message: string) =>
    context.addIssue({ code: 'custom', path, message });
  const services = Object.keys(lab.services);
  const terminalIds = lab.terminals.map((terminal) => terminal.id);

  const requireService = (name: string | undefined, path: Path) => {
    if (name === undefined || services.includes(name)) return;
    report(path, `no service "${name}"; use one of: ${services.join(', ')}`);
  };

  for (const [name, service] of Object.entries(lab.services)) {
    service.dependsOn.forEach((other, index) =>
      requireService(other, ['services', name, 'dependsOn', index]),
    );
  }
  const cycle = findCycle(lab.services);
  if (cycle)
    report(['services'], `services depend on each other in a cycle: ${cycle.join(' -> ')}`);
  checkRoutes(lab.services, report);

  lab.terminals.forEach((terminal, index) => {
    if (terminalIds.indexOf(terminal.id) !== index)
      report(['terminals', index, 'id'], `terminal id "${terminal.id}" is used twice`);
    requireService(terminal.service, ['terminals', index, 'service']);
  });
  lab.web.forEach((entry, index) => requireService(entry.service, ['web', index, 'service']));

  const stepIds = lab.steps.map((step) => step.id);
  lab.steps.forEach((step, index) => {
    if (stepIds.indexOf(step.id) !== index)
      report(['steps', index, 'id'], `step id "${step.id}" is used twice`);
    requireService(step.check.service, ['steps', index, 'check', 'service']);
    requireService(step.solution.service, ['steps', index, 'solution', 'service']);
    requireService(step.setup?.service, ['steps', index, 'setup', 'service']);

    step.commands.forEach((entry, commandIndex) => {
      if (entry.terminal === undefined || terminalIds.includes(entry.terminal)) return;
      report(
        ['steps', index, 'commands', commandIndex, 'terminal'],
        `no terminal "${entry.terminal}"; use one of: ${terminalIds.join(', ')}`,
      );
    });

    for (const command of annotatedCommands(step.body)) {
      if (resolveTerminal(command.terminal, terminalIds) !== undefined) continue;
      report(
        ['steps', index, 'body'],
        `{{exec ${command.terminal}}} names no terminal; use T1 to T${terminalIds.length} or one of: ${terminalIds.join(', ')}`,
      );
    }
  });
}

/**
 * Renders each routed service's route as the lab server will at session start, so a bad
 * VIRTUAL_HOST or HTTP_EXPOSE fails here, not in a learner's session.
 */
function checkRoutes(
  services: LabShape['services'],
  report: (path: Path, message: string) => void,
): void {
  const routedBy = new Map<string, string>();

  for (const [name, service] of Object.entries(services)) {
    const route = serviceRoute(name, service);
    if (!route) continue;

    try {
      renderRouteFile(route);
    } catch (error) {
      const variable = /HTTP_EXPOSE/.test((error as Error).message)
        ? 'HTTP_EXPOSE'
        : 'VIRTUAL_HOST';
      report(['services', name, 'environment', variable], (error as Error).message);
    }

    const other = routedBy.get(route.project);
    if (other) {
      report(
        ['services', name, 'project'],
        `project "${route.project}" is routed by service "${other}" already; give each routed service its own project`,
      );
    }
    routedBy.set(route.project, name);
  }

  // router-route reloads a running nginx, and the health check tells the lab server that it runs.
  for (const [name, service] of Object.entries(services)) {
    if (service.image !== 'router' || routedBy.size === 0 || service.healthcheck) continue;
    report(
      ['services', name, 'healthcheck'],
      'a router that gets routes needs a health check, for example `curl -fsS http://127.0.0.1:10999/ping`',
    );
  }
}

/** Returns the services of one dependency cycle, or undefined when there is none. */
function findCycle(services: LabShape['services']): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();

  const visit = (name: string, trail: string[]): string[] | undefined => {
    if (state.get(name) === 'done' || !(name in services)) return undefined;
    if (state.get(name) === 'visiting') return [...trail.slice(trail.indexOf(name)), name];

    state.set(name, 'visiting');
    for (const other of services[name]!.dependsOn) {
      const cycle = visit(other, [...trail, name]);
      if (cycle) return cycle;
    }
    state.set(name, 'done');
    return undefined;
  };

  for (const name of Object.keys(services)) {
    const cycle = visit(name, []);
    if (cycle) return cycle;
  }
  return undefined;
}
