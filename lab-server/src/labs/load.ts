// Reads every lab definition in a folder. Used by the lab server at start and by the site build.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';

import { LabDefinitionError, parseLab, type Lab } from './schema.ts';

/** Loads and validates one lab file; the lab's id must match the file name. */
export async function loadLabFile(file: string): Promise<Lab> {
  const text = await readFile(file, 'utf8');

  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    if (error instanceof YAMLParseError)
      throw new LabDefinitionError(file, [`YAML syntax: ${error.message}`]);
    throw error;
  }

  const lab = parseLab(file, document);
  const expectedId = path.basename(file).replace(/\.ya?ml$/, '');
  if (lab.id !== expectedId) {
    throw new LabDefinitionError(file, [
      `id: "${lab.id}" must match the file name "${expectedId}"`,
    ]);
  }
  return lab;
}

/** Loads every *.yaml and *.yml file in a folder into a map by lab id. */
export async function loadLabs(folder: string): Promise<Map<string, Lab>> {
  const names = (await readdir(folder)).filter((name) => /\.ya?ml$/.test(name)).sort();
  const labs = new Map<string, Lab>();

  for (const name of names) {
    const lab = await loadLabFile(path.join(folder, name));
    labs.set(lab.id, lab);
  }
  return labs;
}
