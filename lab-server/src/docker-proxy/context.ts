// What every call of one session's proxy needs: the session's facts, the engine, and the checks
// that decide whether a container, an image or a network belongs to the session.
import type { EngineSocket } from '../sandbox/engine-socket.ts';
import type { DockerAccessSession } from '../sandbox/docker-proxy-access.ts';
import type { StepBuilder } from '../sandbox/step-builder/builder.ts';
import { LABEL_PREFIX, LABELS, labelFilter, managedLabels } from '../sandbox/labels.ts';
import { isSessionRef, isTeachingTag, toDisplayRef, toEngineRef } from './refs.ts';
import { noSuchContainer, noSuchImage, noSuchNetwork } from './refusals.ts';

/** Marks what a learner made through the proxy, as opposed to the lab's own services. */
export const CREATED_BY_LABEL = `${LABEL_PREFIX}.created-by`;
export const CREATED_BY_LEARNER = 'learner';

export interface ProxyCaps {
  /** Containers a learner may have at once, and their memory in total, in bytes. */
  containers: number;
  memoryBytes: number;
  /** Builds a learner may run in one session. */
  builds: number;
}

export interface ContainerInfo {
  Id: string;
  Name: string;
  Config: { Labels: Record<string, string> | null; Image: string };
}

export interface ImageInfo {
  Id: string;
  RepoTags: string[] | null;
  Labels: Record<string, string> | null;
}

export class ProxyContext {
  readonly session: DockerAccessSession;
  readonly engine: EngineSocket;
  readonly caps: ProxyCaps;
  readonly networkName: string;
  /** Runs the learner's builds step by step, each RUN in a hardened container. */
  readonly builder: StepBuilder;
  /** Exec instances this learner created; no other exec may be started, resized or read. */
  readonly execs = new Set<string>();
  builds = 0;
  building = false;
  /** Container creations run one at a time, so two at once cannot both pass the caps. */
  createQueue: Promise<unknown> = Promise.resolve();

  constructor(options: {
    session: DockerAccessSession;
    engine: EngineSocket;
    caps: ProxyCaps;
    networkName: string;
    builder: StepBuilder;
  }) {
    this.session = options.session;
    this.engine = options.engine;
    this.caps = options.caps;
    this.networkName = options.networkName;
    this.builder = options.builder;
  }

  get sessionId(): string {
    return this.session.sessionId;
  }

  /** Labels of the session's containers, the lab's services included. */
  sessionLabels(): Record<string, string> {
    return {
      [LABELS.managed]: 'true',
      [LABELS.instance]: this.session.instance,
      [LABELS.session]: this.session.sessionId,
    };
  }

  /** Labels of what the learner makes: containers and images. */
  learnerLabels(kind: 'sandbox' | 'image'): Record<string, string> {
    const { instance, sessionId, labId, expiresAt } = this.session;
    return {
      ...managedLabels({ kind, instance, sessionId, labId, expiresAt }),
      [CREATED_BY_LABEL]: CREATED_BY_LEARNER,
    };
  }

  learnerFilter(): string {
    return JSON.stringify(
      labelFilter({ ...this.sessionLabels(), [CREATED_BY_LABEL]: CREATED_BY_LEARNER }),
    );
  }

  belongs(labels: Record<string, string> | null | undefined): boolean {
    return Object.entries(this.sessionLabels()).every(([key, value]) => labels?.[key] === value);
  }

  /** The session's container by id or name; another session's is "No such container", as a missing one. */
  async ownContainer(id: string): Promise<ContainerInfo> {
    const { status, value } = await this.engine.json<ContainerInfo>(
      'GET',
      `/containers/${id}/json`,
    );
    if (status === 404 || (status < 300 && !this.belongs(value.Config?.Labels)))
      throw noSuchContainer(id);
    if (status >= 300) throw new Error(`inspecting container ${id}: engine status ${status}`);
    return value;
  }

  /** A teaching image or one of this session's; any other is "No such image", as a missing one. */
  async ownImage(ref: string): Promise<ImageInfo> {
    const engineRef = toEngineRef(ref, this.sessionId);
    if (!engineRef) throw noSuchImage(ref);

    const { status, value } = await this.engine.json<
      ImageInfo & { Config?: { Labels?: Record<string, string> } }
    >('GET', `/images/${engineRef}/json`);
    if (status === 404) throw noSuchImage(ref);
    if (status >= 300) throw new Error(`inspecting image ${ref}: engine status ${status}`);

    const info = { ...value, Labels: value.Config?.Labels ?? null };
    if (!this.imageAllowed(info)) throw noSuchImage(ref);
    return info;
  }

  /** Teaching images by tag, never by label; the learner's own by its namespace or labels. */
  imageAllowed(image: ImageInfo): boolean {
    const tags = image.RepoTags ?? [];
    if (tags.some((tag) => isTeachingTag(tag) || isSessionRef(tag, this.sessionId))) return true;
    return this.belongs(image.Labels) && image.Labels?.[CREATED_BY_LABEL] === CREATED_BY_LEARNER;
  }

  displayTags(tags: string[] | null): string[] | null {
    return tags?.map((tag) => toDisplayRef(tag, this.sessionId)) ?? tags;
  }

  async ownNetwork(id: string): Promise<{ Id: string; Name: string }> {
    const { status, value } = await this.engine.json<{ Id: string; Name: string }>(
      'GET',
      `/networks/${id}`,
    );
    if (status === 404 || (status < 300 && value.Id !== this.session.networkId))
      throw noSuchNetwork(id);
    if (status >= 300) throw new Error(`inspecting network ${id}: engine status ${status}`);
    return value;
  }
}
