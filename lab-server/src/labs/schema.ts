// The lab definition format: one schema, used by the site build (to render the lab page) and by
// the lab server (to start containers and run checks). Labs are YAML files in content/labs.
import { z } from 'zod';

import { IMAGE_NAMES } from '../images/catalog.ts';

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lower-case letters, digits and dashes, starting with a letter or digit');

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use an environment variable name');

const posixUser = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]{0,31}$|^[0-9]{1,6}$/, 'use a user name or a numeric uid');

const command = z.string().min(1).max(4000);

export const serviceSchema = z.strictObject({
  image: z.enum(IMAGE_NAMES, { error: `use one of the teaching images: ${IMAGE_NAMES.join(', ')}` }),
  command: z.array(z.string()).min(1).optional(),
  environment: z.record(envName, z.string()).default({}),
  user: posixUser.optional(),
  workingDir: z.string().startsWith('/').optional(),
  healthcheck: z
    .strictObject({ test: command, intervalSeconds: z.number().positive().max(60).default(2) })
    .optional(),
  dependsOn: z.array(id).default([]),
});

export const terminalSchema = z.strictObject({
  id,
  title: z.string().min(1).max(40),
  service: id,
  user: posixUser.optional(),
  shell: z.enum(['bash', 'sh']).default('bash'),
});

export const checkSchema = z.strictObject({
  service: id,
  user: posixUser.optional(),
  run: command,
  timeoutSeconds: z.number().positive().max(600).optional(),
});

export const stepSchema = z.strictObject({
  id,
  title: z.string().min(1).max(100),
  body: z.string().min(1),
  commands: z
    .array(z.strictObject({ run: command, terminal: id.optional(), interrupt: z.boolean().default(false) }))
    .default([]),
  check: checkSchema,
  hints: z.array(z.string().min(1)).min(1),
  solution: command.optional(),
  setup: z.strictObject({ service: id, user: posixUser.optional(), run: command }).optional(),
});

export const labSchema = z
  .strictObject({
    id,
    title: z.string().min(1).max(100),
    summary: z.string().min(1).max(400),
    minutes: z.number().int().positive().max(240),
    services: z.record(id, serviceSchema).refine((services) => Object.keys(services).length > 0, {
      message: 'a lab needs at least one service',
    }),
    terminals: z.array(terminalSchema).min(1),
    steps: z.array(stepSchema).min(1),
  })
  .superRefine(checkReferences);

export type Lab = z.infer<typeof labSchema>;
export type LabService = z.infer<typeof serviceSchema>;
export type LabTerminal = z.infer<typeof terminalSchema>;
export type LabStep = z.infer<typeof stepSchema>;

/** Checks that every service, terminal and step id that a lab refers to is defined, and unique. */
function checkReferences(lab: Omit<Lab, never>, context: z.RefinementCtx): void {
  const services = new Set(Object.keys(lab.services));
  const terminals = new Set<string>();

  const requireService = (name: string, path: (string | number)[]) => {
    if (services.has(name)) return;
    context.addIssue({
      code: 'custom',
      path,
      message: `no service "${name}"; use one of: ${[...services].join(', ')}`,
    });
  };

  for (const [name, service] of Object.entries(lab.services)) {
    service.dependsOn.forEach((other, index) => requireService(other, ['services', name, 'dependsOn', index]));
  }

  lab.terminals.forEach((terminal, index) => {
    if (terminals.has(terminal.id)) {
      context.addIssue({ code: 'custom', path: ['terminals', index, 'id'], message: `terminal id "${terminal.id}" is used twice` });
    }
    terminals.add(terminal.id);
    requireService(terminal.service, ['terminals', index, 'service']);
  });

  const stepIds = new Set<string>();
  lab.steps.forEach((step, index) => {
    if (stepIds.has(step.id)) {
      context.addIssue({ code: 'custom', path: ['steps', index, 'id'], message: `step id "${step.id}" is used twice` });
    }
    stepIds.add(step.id);
    requireService(step.check.service, ['steps', index, 'check', 'service']);
    if (step.setup) requireService(step.setup.service, ['steps', index, 'setup', 'service']);

    step.commands.forEach((entry, commandIndex) => {
      if (entry.terminal === undefined || terminals.has(entry.terminal)) return;
      context.addIssue({
        code: 'custom',
        path: ['steps', index, 'commands', commandIndex, 'terminal'],
        message: `no terminal "${entry.terminal}"; use one of: ${[...terminals].join(', ')}`,
      });
    });
  });
}

export class LabDefinitionError extends Error {
  readonly file: string;
  readonly problems: string[];

  constructor(file: string, problems: string[]) {
    super(`Invalid lab definition ${file}:\n${problems.map((line) => `  ${line}`).join('\n')}`);
    this.name = 'LabDefinitionError';
    this.file = file;
    this.problems = problems;
  }
}

/** Validates one parsed YAML document; throws LabDefinitionError naming the file and each field. */
export function parseLab(file: string, document: unknown): Lab {
  const result = labSchema.safeParse(document);
  if (result.success) return result.data;

  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    return `${field}: ${issue.message}`;
  });
  throw new LabDefinitionError(file, problems);
}
