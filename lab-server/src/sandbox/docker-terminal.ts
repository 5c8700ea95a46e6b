// A learner's terminal on a Docker Engine: an interactive shell in a `docker exec` TTY, sized
// before its first prompt, whose processes all end when the terminal is disposed.
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';

import { statusOf, waitForEnd } from './docker-calls.ts';
import type { TerminalOptions, TerminalProcess } from './runtime.ts';

/** Environment variable that tags every process of one terminal, so they can be found and ended. */
const TERMINAL_MARKER = 'DDEV_LAB_TERMINAL';

/** Opens an interactive shell in the container, in a TTY of the size the options give. */
export async function openTerminal(
  docker: Docker,
  containerId: string,
  options: TerminalOptions,
): Promise<TerminalProcess> {
  const container = docker.getContainer(containerId);
  const marker = randomBytes(12).toString('hex');

  // API 1.41 (Docker 20.10) has no ConsoleSize for execs, so a wrapper sizes the TTY with stty
  // before the shell starts: its first prompt already fits the page. The shell is interactive
  // but not a login shell: Debian's /etc/profile drops /usr/sbin from a non-root user's PATH,
  // where the labs' nginx and mariadbd live, while the image's PATH keeps it.
  const exec = await container.exec({
    Cmd: [
      'sh',
      '-c',
      'stty cols "$1" rows "$2" 2>/dev/null; exec "$3" -i',
      'ddev-lab-terminal',
      String(options.cols),
      String(options.rows),
      options.shell,
    ],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
    User: options.user,
    WorkingDir: options.workingDir,
    Env: ['TERM=xterm-256color', `${TERMINAL_MARKER}=${marker}`],
  });
  const stream = await exec.start({ hijack: true, stdin: true, Tty: true });

  let disposed = false;
  return {
    stream,
    resize: async (cols, rows) => {
      await exec.resize({ w: cols, h: rows });
    },
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      stream.end();
      stream.destroy();
      await killMarkedProcesses(container, options.user, marker);
    },
  };
}

/**
 * Ends every process of one terminal: the shell and whatever it started. Closing the exec's
 * stream is not enough, because Docker 20.10 keeps the TTY open and an interactive shell keeps
 * waiting on it. The cleanup runs as the terminal's user, who may read its processes' environ.
 * An engine that has already removed the container counts as done.
 */
async function killMarkedProcesses(
  container: Docker.Container,
  user: string | undefined,
  marker: string,
): Promise<void> {
  const script =
    'for dir in /proc/[0-9]*; do ' +
    'if tr "\\0" "\\n" < "$dir/environ" 2>/dev/null | grep -qxF "$1=$2"; then kill -KILL "${dir#/proc/}" 2>/dev/null; fi; ' +
    'done';
  try {
    const exec = await container.exec({
      Cmd: ['sh', '-c', script, 'ddev-lab-terminal-cleanup', TERMINAL_MARKER, marker],
      User: user,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    stream.resume();
    await waitForEnd(stream, 10_000);
  } catch (error) {
    const status = statusOf(error);
    if (status === 404 || status === 409) return;
    throw error;
  }
}
