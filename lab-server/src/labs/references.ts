// Cross-references inside one lab definition: every service, terminal and step id that a lab
// names must be defined, ids must be unique, and services may not depend on each other in a cycle.
import type { z } from 'zod';

import { annotatedCommands, resolveTerminal } from './annotations.ts';

type Path = (string | number)[];

/** The parts of a parsed lab that references point into. */
interface LabShape {
  services: Record<string, { dependsOn: string[] }>;
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

export function checkReferences(lab: LabShape, context: z.RefinementCtx): void {
  const report = (path: Path, message: string) => context.addIssue({ code: 'custom', path, message });
  const services = Object.keys(lab.services);
  const terminalIds = lab.terminals.map((terminal) => terminal.id);

  const requireService = (name: string | undefined, path: Path) => {
    if (name === undefined || services.includes(name)) return;
    report(path, `no service "${name}"; use one of: ${services.join(', ')}`);
  };

  for (const [name, service] of Object.entries(lab.services)) {
    service.dependsOn.forEach((other, index) => requireService(other, ['services', name, 'dependsOn', index]));
  }
  const cycle = findCycle(lab.services);
  if (cycle) report(['services'], `services depend on each other in a cycle: ${cycle.join(' -> ')}`);

  lab.terminals.forEach((terminal, index) => {
    if (terminalIds.indexOf(terminal.id) !== index) report(['terminals', index, 'id'], `terminal id "${terminal.id}" is used twice`);
    requireService(terminal.service, ['terminals', index, 'service']);
  });
  lab.web.forEach((entry, index) => requireService(entry.service, ['web', index, 'service']));

  const stepIds = lab.steps.map((step) => step.id);
  lab.steps.forEach((step, index) => {
    if (stepIds.indexOf(step.id) !== index) report(['steps', index, 'id'], `step id "${step.id}" is used twice`);
    requireService(step.check.service, ['steps', index, 'check', 'service']);
    requireService(step.solution.service, ['steps', index, 'solution', 'service']);
    requireService(step.setup?.service, ['steps', index, 'setup', 'service']);

    step.commands.forEach((entry, commandIndex) => {
      if (entry.terminal === undefined || terminalIds.includes(entry.terminal)) return;
      report(['steps', index, 'commands', commandIndex, 'terminal'], `no terminal "${entry.terminal}"; use one of: ${terminalIds.join(', ')}`);
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
