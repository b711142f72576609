/**
 * Follows WebSocket frame boundaries (RFC 6455 §5.2) in a byte stream without copying or
 * decoding it, so a shutdown can put a close frame between two frames instead of inside one.
 * Payload bytes are skipped in bulk; only header bytes are looked at one by one.
 */
export class FrameBoundaries {
  /** Payload bytes left in the current frame. */
  private remaining = 0;
  private readonly head = Buffer.alloc(14);
  private headLength = 0;

  get atBoundary(): boolean {
    return this.remaining === 0 && this.headLength === 0;
  }

  /**
   * Consumes `chunk` from `from`; with `stopAtBoundary`, stops at the first frame boundary and
   * returns its offset (`from` itself when already on one). Returns `chunk.length` otherwise.
   */
  feed(chunk: Buffer, from = 0, stopAtBoundary = false): number {
    let i = from;
    while (i < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return i;
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.head[this.headLength++] = chunk[i++] as number;
      const needed = headerLength(this.head, this.headLength);
      if (needed !== 0 && this.headLength === needed) {
        this.remaining = payloadLength(this.head);
        this.headLength = 0;
      }
    }
    return i;
  }
}

/** The whole header's length once its first two bytes are known; 0 before. */
function headerLength(head: Buffer, have: number): number {
  if (have < 2) return 0;
  const second = head[1] as number;
  const short = second & 0x7f;
  return 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
}

function payloadLength(head: Buffer): number {
  const short = (head[1] as number) & 0x7f;
  if (short < 126) return short;
  if (short === 126) return head.readUInt16BE(2);
  return head.readUInt32BE(2) * 2 ** 32 + head.readUInt32BE(6);
}

/** An unmasked (server-to-client) close frame with `code` (1001: going away). */
export function closeFrame(code: number): Buffer {
  const frame = Buffer.alloc(4);
  frame[0] = 0x88;
  frame[1] = 2;
  frame.writeUInt16BE(code, 2);
  return frame;
}
