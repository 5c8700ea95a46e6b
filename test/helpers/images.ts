// Shared pieces of the teaching-image tests: the hardened settings every test container runs
// with, the wait for its health check, and a command run inside it.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

import { docker } from './docker.ts';

/** The capabilities and options a lab server gives a service container. */
export const HARDENED = {
  CapDrop: ['ALL'],
  CapAdd: ['CHOWN', 'SETUID', 'SETGID', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_BIND_SERVICE'],
  SecurityOpt: ['no-new-privileges'],
  ReadonlyRootfs: false,
};

/** Waits until the container's health check passes; fails with its last output otherwise. */
export async function waitHealthy(container: Docker.Container, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;

  while (Date.now() < deadline) {
    const state = (await container.inspect()).State;
    if (state.Health?.Status === 'healthy') return;
    if (!state.Running) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  const logs = (await container.logs({ stdout: true, stderr: true, tail: 30 })).toString('utf8');
  assert.fail(`container did not turn healthy; last output:\n${logs}`);
}

/** Runs a command in the container without a TTY; returns its stdout and fails on a non-zero exit. */
export async function execText(container: Docker.Container, cmd: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  docker.modem.demuxStream(stream, stdout, stderr);

  await new Promise((resolve) => stream.on('end', resolve));
  const { ExitCode } = await exec.inspect();

  const output = Buffer.concat(chunks).toString('utf8');
  assert.equal(ExitCode, 0, `${cmd.join(' ')} failed: ${Buffer.concat(errors).toString('utf8')}`);
  return output;
}
