// Every lab definition, loaded once per site build. Loading them all, not only the page's own,
// makes any invalid lab fail the build with its file, field and what is allowed.
import path from 'node:path';

import { loadLabs } from '../../../lab-server/src/labs/load.ts';
import type { Lab } from '../../../lab-server/src/labs/schema.ts';

let loaded: Promise<Map<string, Lab>> | undefined;

export async function loadLab(id: string): Promise<Lab> {
  loaded ??= loadLabs(path.resolve('content/labs'));
  const lab = (await loaded).get(id);
  if (!lab)
    throw new Error(
      `<Lab id="${id}" />: no lab has that id; add content/labs/${id}.yaml or fix the id.`,
    );
  return lab;
}
