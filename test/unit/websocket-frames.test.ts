import { describe, expect, it } from 'vitest';
import { closeFrame, FrameBoundaries } from '../../src/proxy/websocket-frames.js';

/** A frame as RFC 6455 §5.2 lays it out; `mask` adds a masking key (client-to-server frames). */
function frame(payload: number, mask = false, opcode = 0x2): Buffer {
  const head: number[] = [0x80 | opcode];
  const m = mask ? 0x80 : 0;
  if (payload < 126) head.push(m | payload);
  else if (payload < 65_536) head.push(m | 126, payload >> 8, payload & 0xff);
  else {
    const big = Buffer.alloc(8);
    big.writeUInt32BE(Math.floor(payload / 2 ** 32), 0);
    big.writeUInt32BE(payload >>> 0, 4);
    head.push(m | 127, ...big);
  }
  if (mask) head.push(1, 2, 3, 4);
  return Buffer.concat([Buffer.from(head), Buffer.alloc(payload, 0x7e)]);
}

// Payload sizes across every length encoding, empty control frames and masked frames.
const FRAMES: [number, boolean][] = [
  [0, false],
  [1, false],
  [125, false],
  [126, false],
  [127, true],
  [65_535, false],
  [65_536, true],
  [70_000, false],
  [3, true],
];

describe('FrameBoundaries', () => {
  const frames = FRAMES.map(([size, mask]) => frame(size, mask));
  const stream = Buffer.concat(frames);
  const ends: number[] = [];
  let at = 0;
  for (const one of frames) {
    at += one.length;
    ends.push(at);
  }

  it.each([1, 2, 3, 7, 13, 1000, 65_536, stream.length])(
    'finds every frame end when the stream arrives in %i-byte pieces',
    (piece) => {
      const tracker = new FrameBoundaries();
      const seen: number[] = [];
      for (let offset = 0; offset < stream.length; offset += piece) {
        const chunk = stream.subarray(offset, offset + piece);
        let i = 0;
        while (i < chunk.length) {
          // Step past the boundary we stand on, then run to the next one.
          const next = tracker.feed(chunk, i, true);
          if (next === i) {
            const one = tracker.feed(chunk.subarray(i, i + 1));
            i += one;
          } else i = next;
          if (tracker.atBoundary) seen.push(offset + i);
        }
      }
      // Zero-length frames end two bytes after they start; every end is found, in order.
      expect([...new Set(seen)]).toEqual(ends);
    },
  );

  it('is mid-frame after a partial header', () => {
    const tracker = new FrameBoundaries();
    tracker.feed(frame(300).subarray(0, 3));
    expect(tracker.atBoundary).toBe(false);
  });

  it('writes a 1001 close frame', () => {
    expect([...closeFrame(1001)]).toEqual([0x88, 0x02, 0x03, 0xe9]);
  });
});
