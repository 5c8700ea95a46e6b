// The most recent output of one shell, addressed by byte offset, so a page that reconnects can be
// sent what it missed. When it is full the oldest bytes go first.

export class ReplayBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private endOffset = 0;
  readonly capacity: number;

  constructor(capacityBytes: number) {
    this.capacity = capacityBytes;
  }

  /** Offset just past the newest byte: every output byte the shell has written. */
  get end(): number {
    return this.endOffset;
  }

  /** Offset of the oldest byte still held. */
  get start(): number {
    return this.endOffset - this.size;
  }

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.endOffset += chunk.length;
    this.evict();
  }

  /**
   * Returns the bytes from `from` to the end; `from` is clamped to what the buffer still holds.
   * Bytes within one chunk come back as a view of it, more than one chunk as a copy.
   */
  readFrom(from: number): Buffer {
    const parts = this.viewsFrom(from);
    if (parts.length === 0) return Buffer.alloc(0);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Returns the bytes from `from` to the end as views of the chunks held, oldest first, uncopied. */
  viewsFrom(from: number): Buffer[] {
    let wanted = this.endOffset - Math.max(from, this.start);

    // Walk back from the newest chunk: a flush usually needs only the last few.
    const parts: Buffer[] = [];
    for (let index = this.chunks.length - 1; index >= 0 && wanted > 0; index -= 1) {
      const chunk = this.chunks[index]!;
      const part = chunk.length <= wanted ? chunk : chunk.subarray(chunk.length - wanted);
      parts.push(part);
      wanted -= part.length;
    }
    return parts.reverse();
  }

  private evict(): void {
    let excess = this.size - this.capacity;
    while (excess > 0) {
      const oldest = this.chunks[0]!;
      if (oldest.length <= excess) {
        this.chunks.shift();
        this.size -= oldest.length;
        excess -= oldest.length;
      } else {
        this.chunks[0] = oldest.subarray(excess);
        this.size -= excess;
        excess = 0;
      }
    }
  }
}
