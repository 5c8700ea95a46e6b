// Planning a RUN step: its command in shell or exec form, and the stage's build arguments, which
// the command receives as environment unless ENV sets the same name.
import { BUILTIN_ARGS, type BuildArgs } from './build-args.ts';
import { jsonArray } from './parse.ts';
import type { PlanInput, Step } from './plan.ts';
import { envMap } from './stage.ts';

// Exports the build arguments listed after `|N` and runs the rest, so that they reach the RUN
// as environment while the container's command reads as the classic builder's history line.
const ARGS_WRAPPER =
  'shift; i=0; while [ "$i" -lt "$0" ]; do export "$1"; shift; i=$((i + 1)); done; exec "$@"';

export function planRun({ instruction, stage, config, shell }: PlanInput, args: BuildArgs): Step {
  const command = jsonArray(instruction.args) ?? [...shell, instruction.args];
  const env = envMap(config.Env);
  const buildEnv = Object.entries(args.values(stage.args))
    .filter(
      ([name]) => env[name] === undefined && (!BUILTIN_ARGS.has(name) || stage.args.has(name)),
    )
    .map(([name, value]) => `${name}=${value}`)
    .sort();

  if (buildEnv.length === 0)
    return { cmd: command, config, run: { commandText: command.join(' ') } };
  return {
    cmd: [`|${buildEnv.length}`, ...buildEnv, ...command],
    config,
    run: {
      entrypoint: ['/bin/sh', '-c', ARGS_WRAPPER, String(buildEnv.length)],
      commandText: command.join(' '),
    },
  };
}
