// The `filters` query parameter of list calls, with the session's labels added to what the
// learner asked for. The engine ANDs label filters, so the learner can only narrow the list.
import { badRequest } from './refusals.ts';

/** Parses the learner's filters (either JSON form the CLI sends) and adds the labels. */
export function mergeLabelFilters(raw: string | null, labels: Record<string, string>): string {
  return withLabels(parseFilters(raw), labels);
}

/** Adds the labels to parsed filters and returns the JSON form for the engine. */
export function withLabels(
  filters: Record<string, string[]>,
  labels: Record<string, string>,
): string {
  const forced = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
  return JSON.stringify({ ...filters, label: [...(filters.label ?? []), ...forced] });
}

export function parseFilters(raw: string | null): Record<string, string[]> {
  if (!raw) return {};

  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw badRequest(`invalid filter ${raw}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw badRequest(`invalid filter ${raw}`);

  // Older clients send {"label": {"a=b": true}}, newer ones {"label": ["a=b"]}.
  const filters: Record<string, string[]> = {};
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    const values = Array.isArray(entry)
      ? entry
      : entry && typeof entry === 'object'
        ? Object.keys(entry)
        : [];
    filters[key] = values.map(String);
  }
  return filters;
}
