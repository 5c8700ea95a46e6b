// The terminal protocol: one WebSocket per terminal, binary frames only. The first byte of a
// frame is its type; the rest is its payload. Shared by the lab server and the page.
//
//   type        direction         payload
//   INPUT  0x01 page → server     keystrokes or pasted text, UTF-8 bytes
//   OUTPUT 0x02 server → page     8-byte unsigned big-endian offset of the first byte, then bytes
//   RESIZE 0x03 page → server     2-byte columns, 2-byte rows, both unsigned big-endian
//   ACK    0x04 page → server     8-byte offset: output bytes the page has received
//   PING   0x05 either way        up to 32 opaque bytes, echoed back in a PONG
//   PONG   0x06 either way        the bytes of the PING it answers
//   STATUS 0x07 server → page     UTF-8 JSON: { "state": ..., "message": ... }
//
// Offsets count every output byte of the shell since it started, so a page can say exactly how
// much it has, and the server can tell what it missed.

export const FrameType = {
  input: 0x01,
  output: 0x02,
  resize: 0x03,
  ack: 0x04,
  ping: 0x05,
  pong: 0x06,
  status: 0x07,
} as const;

export type TerminalState = 'ready' | 'exited' | 'error' | 'closed';

export type Frame =
  | { type: 'input'; data: Uint8Array }
  | { type: 'output'; offset: number; data: Uint8Array }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; offset: number }
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'status'; state: TerminalState; message: string };

export const MAX_PING_BYTES = 32;
export const MAX_TERMINAL_SIZE = 1000;
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
      const bytes = new Uint8Array(1 + OFFSET_BYTES + frame.data.length);
      bytes[0] = FrameType.output;
      writeOffset(bytes, 1, frame.offset);
      bytes.set(frame.data, 1 + OFFSET_BYTES);
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
      return withType(FrameType.status, textEncoder.encode(JSON.stringify({ state: frame.state, message: frame.message })));
  }
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
      return { type: 'resize', cols: checkSize(view.getUint16(0), 'cols'), rows: checkSize(view.getUint16(2), 'rows') };
    case FrameType.ack:
      requireLength(payload, OFFSET_BYTES, 'ack', 'exactly');
      return { type: 'ack', offset: readOffset(view) };
    case FrameType.ping:
      return { type: 'ping', data: checkPing(payload) };
    case FrameType.pong:
      return { type: 'pong', data: checkPing(payload) };
    case FrameType.status:
      return decodeStatus(payload);
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
  if (!['ready', 'exited', 'error', 'closed'].includes(state as string) || typeof message !== 'string') {
    throw new ProtocolError('status frame needs a known "state" and a string "message"');
  }
  return { type: 'status', state: state as TerminalState, message };
}

function withType(type: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(1 + payload.length);
  bytes[0] = type;
  bytes.set(payload, 1);
  return bytes;
}

function writeOffset(bytes: Uint8Array, at: number, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ProtocolError(`invalid offset ${offset}`);
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, BigInt(offset));
}

function readOffset(view: DataView): number {
  const offset = view.getBigUint64(0);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError('offset is too large');
  return Number(offset);
}

function requireLength(payload: Uint8Array, length: number, name: string, mode: 'exactly' | 'at least'): void {
  const ok = mode === 'exactly' ? payload.length === length : payload.length >= length;
  if (!ok) throw new ProtocolError(`${name} frame needs ${mode} ${length} payload bytes, got ${payload.length}`);
}

function checkSize(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_TERMINAL_SIZE) {
    throw new ProtocolError(`${name} must be an integer from 1 to ${MAX_TERMINAL_SIZE}, got ${value}`);
  }
  return value;
}

function checkPing(data: Uint8Array): Uint8Array {
  if (data.length > MAX_PING_BYTES) throw new ProtocolError(`ping payload exceeds ${MAX_PING_BYTES} bytes`);
  return data;
}
