// The terminal protocol: one WebSocket per terminal, binary frames only. The first byte of a
// frame is its type; the rest is its payload. Shared by the lab server and the page; PROTOCOL.md
// beside this file walks through a connection.
//
//   type          direction        payload
//   INPUT    0x01 page -> server   keystrokes or pasted text, UTF-8 bytes, one frame per keystroke
//   OUTPUT   0x02 server -> page   8-byte offset of the first byte, then the bytes
//   RESIZE   0x03 page -> server   2-byte columns, 2-byte rows
//   ACK      0x04 page -> server   8-byte offset: the page has processed every byte before it
//   PING     0x05 either way       up to 32 opaque bytes, echoed back in a PONG
//   PONG     0x06 either way       the bytes of the PING it answers
//   STATUS   0x07 server -> page   UTF-8 JSON: { "state": ..., "message": ... }
//   ATTACHED 0x08 server -> page   8-byte offset where output continues, 8-byte count of bytes
//                                  the page asked for but the server no longer has, then the
//                                  shell id as ASCII
//
// Integers are unsigned big-endian. An offset counts the output bytes of one shell since it
// started, so a page can say how much it has and the server can send exactly what it missed.
//
// The upgrade URL carries the page's state as query parameters: `cols` and `rows` (the size the
// shell starts with), and on a reconnect `shell` (the id from the last ATTACHED) and `offset`
// (the end of the last OUTPUT it received). The server answers with ATTACHED first, then OUTPUT
// from that offset on. A STATUS with state "replaced" means another page took the terminal over;
// "exited" and "closed" mean the shell is gone; the page reconnects after any other close.
//
// Flow control: the server stops reading from the shell while it has sent more than a high-water
// mark of bytes the page has not acknowledged, and starts again below a low-water mark.

export const FrameType = {
  input: 0x01,
  output: 0x02,
  resize: 0x03,
  ack: 0x04,
  ping: 0x05,
  pong: 0x06,
  status: 0x07,
  attached: 0x08,
} as const;

/**
 * A STATUS frame's state: ready (attached), replaced (another page took over), exited (the shell
 * ended), closed (the lab session ended), error (a rejected frame or a failed container).
 */
export const TERMINAL_STATES = ['ready', 'replaced', 'exited', 'closed', 'error'] as const;
export type TerminalState = (typeof TERMINAL_STATES)[number];

export type Frame =
  | { type: 'input'; data: Uint8Array }
  | { type: 'output'; offset: number; data: Uint8Array }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; offset: number }
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'status'; state: TerminalState; message: string }
  | { type: 'attached'; offset: number; dropped: number; shellId: string };

export const MAX_PING_BYTES = 32;
export const MAX_TERMINAL_SIZE = 1000;
/** Shell ids are short ASCII tokens; the page sends them back in the `shell` query parameter. */
export const SHELL_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const OFFSET_BYTES = 8;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes one frame as the bytes of a binary WebSocket message. */
export function encodeFrame(frame: Frame): Uint8Array<ArrayBuffer> {
  switch (frame.type) {
    case 'input':
      return withType(FrameType.input, frame.data);
    case 'output': {
      const bytes = new Uint8Array(OUTPUT_HEADER_BYTES + frame.data.length);
      bytes.set(encodeOutputHeader(frame.offset));
      bytes.set(frame.data, OUTPUT_HEADER_BYTES);
      return bytes;
    }
    case 'resize': {
      const bytes = new Uint8Array(5);
      const view = new DataView(bytes.buffer);
      bytes[0] = FrameType.resize;
      view.setUint16(1, checkSize(frame.cols, 'cols'));
      view.setUint16(3, checkSize(frame.rows, 'rows'));
      return bytes;
    }
    case 'ack': {
      const bytes = new Uint8Array(1 + OFFSET_BYTES);
      bytes[0] = FrameType.ack;
      writeOffset(bytes, 1, frame.offset);
      return bytes;
    }
    case 'ping':
      return withType(FrameType.ping, checkPing(frame.data));
    case 'pong':
      return withType(FrameType.pong, checkPing(frame.data));
    case 'status':
      return withType(
        FrameType.status,
        textEncoder.encode(JSON.stringify({ state: frame.state, message: frame.message })),
      );
    case 'attached':
      return encodeAttached(frame.offset, frame.dropped, frame.shellId);
  }
}

/** Bytes of an OUTPUT frame before its data: the type and the offset. */
export const OUTPUT_HEADER_BYTES = 1 + OFFSET_BYTES;

/**
 * Encodes the start of an OUTPUT frame, for a sender that sends the data after it as further
 * fragments of the same WebSocket message instead of copying it into one buffer.
 */
export function encodeOutputHeader(offset: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(OUTPUT_HEADER_BYTES);
  bytes[0] = FrameType.output;
  writeOffset(bytes, 1, offset);
  return bytes;
}

/** Decodes one binary message; throws ProtocolError on an unknown type or a malformed payload. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length === 0) throw new ProtocolError('empty frame');
  const payload = bytes.subarray(1);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);

  switch (bytes[0]) {
    case FrameType.input:
      return { type: 'input', data: payload };
    case FrameType.output:
      requireLength(payload, OFFSET_BYTES, 'output', 'at least');
      return { type: 'output', offset: readOffset(view), data: payload.subarray(OFFSET_BYTES) };
    case FrameType.resize:
      requireLength(payload, 4, 'resize', 'exactly');
      return {
        type: 'resize',
        cols: checkSize(view.getUint16(0), 'cols'),
        rows: checkSize(view.getUint16(2), 'rows'),
      };
    case FrameType.ack:
      requireLength(payload, OFFSET_BYTES, 'ack', 'exactly');
      return { type: 'ack', offset: readOffset(view) };
    case FrameType.ping:
      return { type: 'ping', data: checkPing(payload) };
    case FrameType.pong:
      return { type: 'pong', data: checkPing(payload) };
    case FrameType.status:
      return decodeStatus(payload);
    case FrameType.attached:
      return decodeAttached(payload, view);
    default:
      throw new ProtocolError(`unknown frame type 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  }
}

function decodeStatus(payload: Uint8Array): Frame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textDecoder.decode(payload));
  } catch {
    throw new ProtocolError('status frame is not UTF-8 JSON');
  }

  const { state, message } = (parsed ?? {}) as { state?: unknown; message?: unknown };
  if (!TERMINAL_STATES.includes(state as TerminalState) || typeof message !== 'string') {
    throw new ProtocolError('status frame needs a known "state" and a string "message"');
  }
  return { type: 'status', state: state as TerminalState, message };
}

function encodeAttached(offset: number, dropped: number, shellId: string): Uint8Array<ArrayBuffer> {
  const id = textEncoder.encode(checkShellId(shellId));
  const bytes = new Uint8Array(1 + 2 * OFFSET_BYTES + id.length);
  bytes[0] = FrameType.attached;
  writeOffset(bytes, 1, offset);
  writeOffset(bytes, 1 + OFFSET_BYTES, dropped);
  bytes.set(id, 1 + 2 * OFFSET_BYTES);
  return bytes;
}

function decodeAttached(payload: Uint8Array, view: DataView): Frame {
  requireLength(payload, 2 * OFFSET_BYTES + 1, 'attached', 'at least');
  const offset = readOffset(view);
  const dropped = readOffset(
    new DataView(view.buffer, view.byteOffset + OFFSET_BYTES, OFFSET_BYTES),
  );
  const shellId = checkShellId(new TextDecoder().decode(payload.subarray(2 * OFFSET_BYTES)));
  return { type: 'attached', offset, dropped, shellId };
}

function checkShellId(shellId: string): string {
  if (!SHELL_ID_PATTERN.test(shellId))
    throw new ProtocolError(`invalid shell id ${JSON.stringify(shellId)}`);
  return shellId;
}

function withType(type: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(1 + payload.length);
  bytes[0] = type;
  bytes.set(payload, 1);
  return bytes;
}

function writeOffset(bytes: Uint8Array, at: number, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new ProtocolError(`invalid offset ${offset}`);
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, BigInt(offset));
}

function readOffset(view: DataView): number {
  const offset = view.getBigUint64(0);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError('offset is too large');
  return Number(offset);
}

function requireLength(
  payload: Uint8Array,
  length: number,
  name: string,
  mode: 'exactly' | 'at least',
): void {
  const ok = mode === 'exactly' ? payload.length === length : payload.length >= length;
  if (!ok)
    throw new ProtocolError(
      `${name} frame needs ${mode} ${length} payload bytes, got ${payload.length}`,
    );
}

function checkSize(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_TERMINAL_SIZE) {
    throw new ProtocolError(
      `${name} must be an integer from 1 to ${MAX_TERMINAL_SIZE}, got ${value}`,
    );
  }
  return value;
}

function checkPing(data: Uint8Array): Uint8Array {
  if (data.length > MAX_PING_BYTES)
    throw new ProtocolError(`ping payload exceeds ${MAX_PING_BYTES} bytes`);
  return data;
}
