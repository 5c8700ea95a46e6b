// Measures each sandbox container's writable layer and ends the sessions that pass their quota.
// It stands in for an engine-enforced size (StorageOpt), which needs overlay2 on xfs with pquota.
//
// NOTE: between two measurements a container can write at disk speed, so the bound is the quota
// plus what one interval allows; an engine-enforced quota has no such window.
import type { Logger } from '../log.ts';
import type { EngineGuards, WritableLayer } from '../sandbox/runtime.ts';

export interface DiskWatchOptions {
  runtime: EngineGuards;
  instance: string;
  limitBytes: number;
  intervalMs: number;
  log: Logger;
  onOverQuota: (layer: WritableLayer) => Promise<void>;
}

export class DiskWatch {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly options: DiskWatchOptions;

  constructor(options: DiskWatchOptions) {
    this.options = options;
  }

  start(): void {
    this.timer = setInterval(() => void this.measure(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Measures once and ends every over-quota session; overlapping calls are skipped. */
  async measure(): Promise<WritableLayer[]> {
    if (this.running) return [];
    this.running = true;

    try {
      const layers = await this.options.runtime.measureWritableLayers(this.options.instance);
      const over = layers.filter((layer) => layer.bytes > this.options.limitBytes);
      for (const layer of over) {
        this.options.log.warn(
          {
            sessionId: layer.sessionId,
            containerId: layer.containerId,
            service: layer.service,
            bytes: layer.bytes,
            limitBytes: this.options.limitBytes,
          },
          'sandbox passed its disk quota; ending its session',
        );
        await this.options.onOverQuota(layer);
      }
      return over;
    } catch (error) {
      this.options.log.error({ err: error }, 'measuring writable layers failed');
      return [];
    } finally {
      this.running = false;
    }
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}
