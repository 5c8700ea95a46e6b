// What the build tests share: a lab with the learner's docker command and a web container that
// Restart rebuilds, and lookups of a session's containers by service.
import assert from 'node:assert/strict';

import { LABELS, labelFilter } from '../../lab-server/src/sandbox/labels.ts';
import { docker } from './docker.ts';

/** Returns the YAML of a one-step lab: a workbench with `docker`, and a web service for Restart. */
export function buildLab(id: string, title: string): string {
  return `
id: ${id}
title: ${title}
summary: A workbench with the learner's docker command and a web container that Restart rebuilds.
minutes: 10
services:
  workbench:
    image: workbench
    docker: true
  web:
    image: webserver
terminals:
  - id: workbench
    title: workbench
    service: workbench
    user: ddev
projectBuild:
  service: web
steps:
  - id: look
    title: Look around
    body: Run docker ps.
    check:
      service: workbench
      run: "true"
    hints:
      - Run docker ps.
    solution: "true"
`;
}

/** Returns the id of the session's one running container of a service. */
export async function serviceContainer(sessionId: string, service: string): Promise<string> {
  const containers = await docker.listContainers({
    filters: JSON.stringify(
      labelFilter({
        [LABELS.session]: sessionId,
        [LABELS.service]: service,
        [LABELS.kind]: 'sandbox',
      }),
    ),
  });
  assert.equal(containers.length, 1, `one running ${service} container`);
  return containers[0]!.Id;
}

/** Quotes text for a POSIX shell command line. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
