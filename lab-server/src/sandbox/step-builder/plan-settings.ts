// Planning the instructions that change only the image settings (and WORKDIR, which also creates
// its folder): each commits a step whose history line is `#(nop)` and the instruction, as the
// classic builder writes it.
import path from 'node:path';

import type { BuildArgs } from './build-args.ts';
import { dirHeader, packItems } from './context.ts';
import { statPath, type ImageConfig } from './engine.ts';
import { healthcheckText, parseGoDuration, quoteList } from './format.ts';
import { BuildFailure } from './messages.ts';
import { jsonArray, type Instruction } from './parse.ts';
import type { PlanInput, Step } from './plan.ts';
import { expandWord, expandWords, splitPairs, type Variables } from './words.ts';

type SettingPlanner = (input: PlanInput, args: BuildArgs) => Step;

const PLANNERS = new Map<string, SettingPlanner>([
  ['WORKDIR', planWorkdir],
  ['ENV', planEnv],
  ['LABEL', planLabel],
  ['ARG', planArg],
  ['USER', planUser],
  ['EXPOSE', planExpose],
  ['CMD', planCmd],
  ['ENTRYPOINT', planEntrypoint],
  ['SHELL', planShell],
  ['STOPSIGNAL', planStopSignal],
  ['VOLUME', planVolume],
  ['HEALTHCHECK', planHealthcheck],
]);

/** Plans an instruction other than FROM, RUN, COPY and ADD; an unknown one fails the build. */
export function planSetting(input: PlanInput, args: BuildArgs): Step {
  const { instruction } = input;
  const planner = PLANNERS.get(instruction.keyword);
  if (!planner)
    throw new BuildFailure(
      `the instruction ${instruction.keyword || instruction.original} is not supported by this lab server's builder`,
    );
  return planner(input, args);
}

function nop({ shell, config }: PlanInput, message: string): Step {
  return { cmd: [...shell, '#(nop) ', message], config };
}

function planWorkdir({ instruction, config, shell, variables }: PlanInput): Step {
  const dir = path.posix.resolve(config.WorkingDir || '/', expandWord(instruction.args, variables));
  config.WorkingDir = dir;
  return {
    cmd: [...shell, `#(nop) WORKDIR ${dir}`],
    config,
    act: async (container) => {
      if (!(await statPath(container, dir)))
        await container.putArchive(
          packItems([{ header: dirHeader(dir.slice(1), { uid: 0, gid: 0 }) }]),
          { path: '/' },
        );
    },
  };
}

function planEnv(input: PlanInput): Step {
  const { config } = input;
  const pairs = expandPairs(input.instruction.args, input.variables);
  if (pairs.length === 0) throw new BuildFailure('ENV requires at least one argument');
  for (const [key, value] of pairs) config.Env = setEnv(config.Env ?? [], key, value);
  return nop(input, `ENV ${pairs.map(([key, value]) => `${key}=${value}`).join(' ')}`);
}

function planLabel(input: PlanInput): Step {
  const { config } = input;
  const pairs = expandPairs(input.instruction.args, input.variables);
  if (pairs.length === 0) throw new BuildFailure('LABEL requires at least one argument');
  config.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(pairs) };
  return nop(input, `LABEL ${pairs.map(([key, value]) => `${key}=${value}`).join(' ')}`);
}

function planArg(input: PlanInput, args: BuildArgs): Step {
  const { instruction, stage, variables } = input;
  return nop(
    input,
    args.declareInStage(instruction.args, stage.args, variables, instruction.original),
  );
}

function planUser(input: PlanInput): Step {
  input.config.User = expandWord(input.instruction.args, input.variables);
  return nop(input, `USER ${input.config.User}`);
}

function planExpose(input: PlanInput): Step {
  const { config } = input;
  const ports = expandWords(input.instruction.args, input.variables);
  config.ExposedPorts = { ...(config.ExposedPorts ?? {}) };
  for (const port of ports) for (const key of portKeys(port)) config.ExposedPorts[key] = {};
  return nop(input, `EXPOSE ${ports.join(' ')}`);
}

function planCmd(input: PlanInput): Step {
  const { config, instruction } = input;
  config.Cmd = jsonArray(instruction.args) ?? [...input.shell, instruction.args];
  input.stage.cmdSet = true;
  return nop(input, `CMD ${quoteList(config.Cmd)}`);
}

function planEntrypoint(input: PlanInput): Step {
  const { config, instruction } = input;
  config.Entrypoint = jsonArray(instruction.args) ?? [...input.shell, instruction.args];
  if (!input.stage.cmdSet) config.Cmd = null;
  return nop(input, `ENTRYPOINT ${quoteList(config.Entrypoint)}`);
}

function planShell(input: PlanInput): Step {
  const list = jsonArray(input.instruction.args);
  if (!list || list.length === 0)
    throw new BuildFailure('SHELL requires the arguments to be in JSON form');
  input.config.Shell = list;
  return nop(input, `SHELL [${list.join(' ')}]`);
}

function planStopSignal(input: PlanInput): Step {
  input.config.StopSignal = expandWord(input.instruction.args, input.variables);
  return nop(input, `STOPSIGNAL ${input.config.StopSignal}`);
}

function planVolume(input: PlanInput): Step {
  const { config, instruction } = input;
  const list = jsonArray(instruction.args) ?? expandWords(instruction.args, input.variables);
  config.Volumes = {
    ...(config.Volumes ?? {}),
    ...Object.fromEntries(list.map((volume) => [volume, {}])),
  };
  return nop(input, `VOLUME [${list.join(' ')}]`);
}

function planHealthcheck(input: PlanInput): Step {
  input.config.Healthcheck = parseHealthcheck(input.instruction);
  return nop(input, healthcheckText(input.config.Healthcheck));
}

/** Expands the `key=value` pairs of ENV and LABEL; a key without a value gets the empty string. */
function expandPairs(args: string, variables: Variables): Array<readonly [string, string]> {
  return splitPairs(args).map(
    ({ key, value }) => [expandWord(key, variables), expandWord(value ?? '', variables)] as const,
  );
}

function setEnv(env: string[], key: string, value: string): string[] {
  const entry = `${key}=${value}`;
  const index = env.findIndex((item) => item.split('=')[0] === key);
  if (index < 0) return [...env, entry];
  const copy = [...env];
  copy[index] = entry;
  return copy;
}

function portKeys(port: string): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(port);
  if (!match) throw new BuildFailure(`invalid containerPort: ${port}`);
  const first = Number(match[1]);
  const last = Number(match[2] ?? match[1]);
  const protocol = (match[3] ?? 'tcp').toLowerCase();
  if (last < first || last - first > 1000) throw new BuildFailure(`invalid port range: ${port}`);
  return Array.from({ length: last - first + 1 }, (_, offset) => `${first + offset}/${protocol}`);
}

function parseHealthcheck(instruction: Instruction): NonNullable<ImageConfig['Healthcheck']> {
  const { args, flags } = instruction;
  const [type = ''] = args.split(/\s+/);
  if (type.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  if (type.toUpperCase() !== 'CMD')
    throw new BuildFailure(`HEALTHCHECK needs CMD or NONE: ${instruction.original}`);

  const command = args.slice(type.length).trim();
  const list = jsonArray(command);
  const duration = (name: string) => {
    if (flags[name] === undefined) return 0;
    const value = parseGoDuration(flags[name]!);
    if (value === undefined)
      throw new BuildFailure(
        `HEALTHCHECK --${name}: "${flags[name]}" is not a duration such as 30s`,
      );
    return value;
  };
  return {
    Test: list ? ['CMD', ...list] : ['CMD-SHELL', command],
    Interval: duration('interval'),
    Timeout: duration('timeout'),
    StartPeriod: duration('start-period'),
    Retries: flags.retries === undefined ? 0 : Number(flags.retries),
  };
}
