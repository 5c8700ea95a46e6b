// Starts the real lab server as a child process on a free port, with an instance name of its
// own so that its startup sweep and its labels never touch another test's resources.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningServer extends AsyncDisposable {
  url: string;
  instance: string;
  process: ChildProcess;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export function uniqueInstance(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function startLabServer(
  options: { instance?: string; env?: Record<string, string> } = {},
): Promise<RunningServer> {
  const instance = options.instance ?? uniqueInstance('test');
  const child = spawn(process.execPath, [path.join(ROOT, 'lab-server/src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      LAB_PORT: '0',
      LAB_INSTANCE: instance,
      LAB_BUILD_IMAGES: '0',
      LAB_BUILD_SITE: '0',
      LAB_PRETTY_LOGS: '0',
      LAB_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`lab server did not start within 60 s:\n${output}`)),
      60_000,
    );
    const poll = setInterval(() => {
      const match = /running at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(match[1]!.replace(/\/$/, ''));
      }
    }, 50);
    child.once('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      reject(new Error(`lab server exited with code ${code}:\n${output}`));
    });
  });

  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };

  return {
    url,
    instance,
    process: child,
    output: () => output,
    kill,
    [Symbol.asyncDispose]: () => kill('SIGTERM'),
  };
}
