// The lab server's Prometheus metrics, served at /metrics in the text format. One registry per
// server, so tests that start several servers in one process never share counts. Names follow
// Prometheus conventions: a `ddevlab_` prefix, base units (seconds), `_total` on counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface LiveCounts {
  sessions(): number;
  terminals(): number;
  trainings(): number;
  learners(): number;
}

export class LabMetrics {
  readonly registry = new Registry();

  readonly sessionsStarted = new Counter({
    name: 'ddevlab_sessions_started_total',
    help: 'Lab sessions started, by lab; adopted after a restart counts separately.',
    labelNames: ['lab', 'how'] as const,
    registers: [this.registry],
  });

  readonly sessionsEnded = new Counter({
    name: 'ddevlab_sessions_ended_total',
    help: 'Lab sessions ended, by reason (stopped, expired, idle, abandoned, reset, failed, shutdown).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly timeToTerminal = new Histogram({
    name: 'ddevlab_time_to_terminal_seconds',
    help: 'Seconds from a Start request to the first terminal of its session being attached.',
    buckets: [0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120],
    registers: [this.registry],
  });

  readonly checks = new Counter({
    name: 'ddevlab_checks_total',
    help: 'Step checks run, by result (passed or failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly reconnects = new Counter({
    name: 'ddevlab_terminal_reconnects_total',
    help: 'Terminal sockets that reattached to a shell they had before (a dropped network or a reload).',
    registers: [this.registry],
  });

  readonly flowPauses = new Counter({
    name: 'ddevlab_terminal_flow_pauses_total',
    help: 'Times a shell stopped being read because its page had too much unacknowledged output.',
    registers: [this.registry],
  });

  readonly cleanupRemovals = new Counter({
    name: 'ddevlab_cleanup_removals_total',
    help: 'Containers and networks removed, by kind and by cause (session end, or the sweep at start).',
    labelNames: ['kind', 'cause'] as const,
    registers: [this.registry],
  });

  readonly buildDuration = new Histogram({
    name: 'ddevlab_build_duration_seconds',
    help: 'Seconds an image build took, by what was built (teaching images at start, or a project image).',
    labelNames: ['target'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200],
    registers: [this.registry],
  });

  readonly readOnlyViewers = new Counter({
    name: 'ddevlab_terminal_viewers_total',
    help: "Read-only views of a learner's terminal opened by the instructor.",
    registers: [this.registry],
  });

  /** Start requests waiting for their session's first terminal, by session, with their time. */
  private readonly awaitingTerminal = new WeakMap<object, number>();
  private readonly attachedOnce = new WeakSet<object>();

  constructor(live: LiveCounts) {
    collectDefaultMetrics({ register: this.registry, prefix: 'ddevlab_' });
    this.gauge('ddevlab_sessions_active', 'Lab sessions running now.', live.sessions);
    this.gauge(
      'ddevlab_terminals_active',
      'Terminal shells alive now, with or without a page attached.',
      live.terminals,
    );
    this.gauge(
      'ddevlab_trainings_open',
      'Trainings neither ended nor past their end.',
      live.trainings,
    );
    this.gauge('ddevlab_training_learners', 'Learners who joined an open training.', live.learners);
  }

  /** Notes when a Start request for this session arrived; its first terminal stops the clock. */
  startRequested(session: object, at: number): void {
    if (!this.attachedOnce.has(session) && !this.awaitingTerminal.has(session))
      this.awaitingTerminal.set(session, at);
  }

  /** Observes the time to terminal when this is the first terminal of a session started here. */
  terminalAttached(session: object): void {
    const at = this.awaitingTerminal.get(session);
    if (at === undefined) return;
    this.awaitingTerminal.delete(session);
    this.attachedOnce.add(session);
    this.timeToTerminal.observe((Date.now() - at) / 1000);
  }

  /** Counts what a removal by label removed. */
  countRemovals(
    removed: { containers: number; networks: number },
    cause: 'session' | 'sweep',
  ): void {
    this.cleanupRemovals.inc({ kind: 'container', cause }, removed.containers);
    this.cleanupRemovals.inc({ kind: 'network', cause }, removed.networks);
  }

  /** The text a Prometheus scrape reads. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}
