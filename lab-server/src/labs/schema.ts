// The lab definition format: one schema, used by the site build (to render the lab page) and by
// the lab server (to start containers and run checks). Labs are YAML files in content/labs.
import { z } from 'zod';

import { IMAGE_NAMES } from '../images/catalog.ts';
import { checkReferences } from './references.ts';

const id = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    'use lower-case letters, digits and dashes, starting with a letter or digit',
  );

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use an environment variable name');

const posixUser = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]{0,31}$|^[0-9]{1,6}$/, 'use a user name or a numeric uid');

const command = z.string().min(1).max(4000);

export const serviceSchema = z.strictObject({
  image: z.enum(IMAGE_NAMES, {
    error: `use one of the teaching images: ${IMAGE_NAMES.join(', ')}`,
  }),
  command: z.array(z.string()).min(1).optional(),
  environment: z.record(envName, z.string()).default({}),
  user: posixUser.optional(),
  workingDir: z.string().startsWith('/').optional(),
  healthcheck: z
    .strictObject({ test: command, intervalSeconds: z.number().positive().max(60).default(2) })
    .optional(),
  dependsOn: z.array(id).default([]),
  /** Gives the service the learner's `docker` command: the session's Docker proxy socket and DOCKER_HOST. */
  docker: z.boolean().optional(),
  /**
   * The DDEV project a web service serves; the service name when absent. In a lab with a router,
   * the lab server writes a route named after the project from VIRTUAL_HOST and HTTP_EXPOSE.
   */
  project: id.optional(),
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
  /** Seconds one run of the check may take; the server's check timeout when absent. */
  timeoutSeconds: z.number().positive().max(600).optional(),
  /** `once` runs the check when the learner asks; `poll` reruns it until it passes or waitSeconds pass. */
  mode: z.enum(['once', 'poll']).default('once'),
  intervalSeconds: z.number().min(0.5).max(60).default(2),
  waitSeconds: z.number().positive().max(600).default(60),
});

/** A hint, shown once the learner has failed the step's check `afterFailures` times. */
const hintSchema = z.union([
  z.string().min(1),
  z.strictObject({ text: z.string().min(1), afterFailures: z.number().int().min(1).max(100) }),
]);

const runInService = z.strictObject({
  service: id.optional(),
  user: posixUser.optional(),
  run: command,
});

export const stepSchema = z.strictObject({
  id,
  title: z.string().min(1).max(100),
  /** Markdown, with Killercoda's {{exec}}, {{exec T2}}, {{exec interrupt}} and {{copy}} after code. */
  body: z.string().min(1),
  commands: z
    .array(
      z.strictObject({
        run: command,
        terminal: id.optional(),
        interrupt: z.boolean().default(false),
      }),
    )
    .default([]),
  check: checkSchema,
  hints: z.array(hintSchema).min(1).transform(normalizeHints),
  /** Commands that complete the step; the self-test runs them, and a resumed session replays them. */
  solution: z
    .union([command, runInService])
    .transform((value) => (typeof value === 'string' ? { run: value } : value)),
  /** Commands that prepare the step; they run when the step becomes current and when it is restarted. */
  setup: runInService.optional(),
  /**
   * The solution takes effect only once the project's image is rebuilt: the self-test presses
   * Restart between the solution and the check. Needs the lab's `projectBuild`.
   */
  needsRestart: z.boolean().default(false),
});

export const webServiceSchema = z.strictObject({
  id,
  title: z.string().min(1).max(60),
  service: id,
  port: z.number().int().min(1).max(65535).default(80),
  path: z.string().startsWith('/').default('/'),
});

/** The service whose image a Restart rebuilds from the project's .ddev/web-build, as `ddev start` does. */
export const projectBuildSchema = z.strictObject({
  service: id,
  /**
   * Lets Restart builds reach the internet, for `apt-get install` from Debian's archive. Without
   * it a build has no route out, like the session's own network.
   */
  egress: z.boolean().default(false),
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
    /** Web servers inside the sandbox that the page links to, through the lab server's proxy. */
    web: z.array(webServiceSchema).default([]),
    steps: z.array(stepSchema).min(1),
    /** Shows Restart and Preview Dockerfile on the page, which rebuild this service's image. */
    projectBuild: projectBuildSchema.optional(),
  })
  .superRefine(checkReferences)
  .superRefine(checkProjectBuild);

/** Requires projectBuild to name a webserver service, and to be present when a step needs Restart. */
function checkProjectBuild(
  lab: {
    services: Record<string, LabService>;
    steps: LabStep[];
    projectBuild?: { service: string };
  },
  context: z.RefinementCtx,
): void {
  const service = lab.projectBuild?.service;
  if (service !== undefined && lab.services[service]?.image !== 'webserver') {
    context.addIssue({
      code: 'custom',
      path: ['projectBuild', 'service'],
      message: `"${service}" is not a service of this lab with the webserver image; name the service whose image Restart rebuilds`,
    });
  }

  lab.steps.forEach((step, index) => {
    if (!step.needsRestart || service !== undefined) return;
    context.addIssue({
      code: 'custom',
      path: ['steps', index, 'needsRestart'],
      message:
        'a step that needs Restart needs the lab to declare projectBuild: { service: <web service> }',
    });
  });
}

export interface Hint {
  text: string;
  afterFailures: number;
}

/** The first hint shows after one failed check and each further one after two more. */
function normalizeHints(hints: (string | Hint)[]): Hint[] {
  return hints.map((hint, index) =>
    typeof hint === 'string' ? { text: hint, afterFailures: 1 + 2 * index } : hint,
  );
}

/** Returns the hints a learner has earned after this many failed checks of the step. */
export function revealedHints(step: LabStep, failures: number): string[] {
  return step.hints.filter((hint) => failures >= hint.afterFailures).map((hint) => hint.text);
}

export type Lab = z.infer<typeof labSchema>;
export type LabService = z.infer<typeof serviceSchema>;
export type LabTerminal = z.infer<typeof terminalSchema>;
export type LabStep = z.infer<typeof stepSchema>;
export type LabWebService = z.infer<typeof webServiceSchema>;
export type LabProjectBuild = z.infer<typeof projectBuildSchema>;

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
