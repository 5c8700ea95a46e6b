// Every container, network and image that ddev-lab makes carries these labels, and cleanup
// finds resources by them alone, never by name.

export const LABEL_PREFIX = 'dev.ddevlab';

export const LABELS = {
  managed: `${LABEL_PREFIX}.managed`,
  kind: `${LABEL_PREFIX}.kind`,
  instance: `${LABEL_PREFIX}.instance`,
  session: `${LABEL_PREFIX}.session`,
  lab: `${LABEL_PREFIX}.lab`,
  service: `${LABEL_PREFIX}.service`,
  expires: `${LABEL_PREFIX}.expires`,
  image: `${LABEL_PREFIX}.image`,
  sourceHash: `${LABEL_PREFIX}.source-hash`,
  /** Set on a sandbox started for the pool of ready sandboxes; it stays after a learner takes it. */
  pool: `${LABEL_PREFIX}.pool`,
} as const;

/** `build` marks the containers that run one step of an image build; they live minutes at most. */
export type ResourceKind = 'sandbox' | 'network' | 'image' | 'build';

export interface LabelFields {
  kind: ResourceKind;
  /** Lab server instance that owns the resource; a server sweeps only its own. */
  instance?: string;
  sessionId?: string;
  labId?: string;
  service?: string;
  /** Expiry as epoch milliseconds. */
  expiresAt?: number;
  /** True for a sandbox started ahead of any learner, for the pool. */
  pooled?: boolean;
}

/** Builds the label set for one resource. */
export function managedLabels(fields: LabelFields): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.managed]: 'true',
    [LABELS.kind]: fields.kind,
  };

  if (fields.instance) labels[LABELS.instance] = fields.instance;
  if (fields.sessionId) labels[LABELS.session] = fields.sessionId;
  if (fields.labId) labels[LABELS.lab] = fields.labId;
  if (fields.service) labels[LABELS.service] = fields.service;
  if (fields.expiresAt !== undefined) labels[LABELS.expires] = String(fields.expiresAt);
  if (fields.pooled) labels[LABELS.pool] = 'true';

  return labels;
}

/** Builds a Docker `filters` value that matches every given label. */
export function labelFilter(labels: Record<string, string>): { label: string[] } {
  return { label: Object.entries(labels).map(([key, value]) => `${key}=${value}`) };
}
