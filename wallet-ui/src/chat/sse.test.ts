import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSse, SseParser, type SseMessage } from './sse.js';

const all = (text: string): SseMessage[] => new SseParser().push(text);

function streamOf(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const p of pieces) controller.enqueue(p);
      controller.close();
    },
  });
}

describe('SSE parser', () => {
  it('reads the node chat stream: event names, JSON data, blank-line dispatch', () => {
    const text = 'event: start\ndata: {"type":"start"}\n\nevent: token\ndata: {"type":"token","id":1,"text":" a"}\n\n';
    expect(all(text)).toEqual([
      { event: 'start', data: '{"type":"start"}' },
      { event: 'token', data: '{"type":"token","id":1,"text":" a"}' },
    ]);
  });

  it('follows the standard: CRLF and CR endings, multi-line data, comments, no-space values, default type, unknown fields', () => {
    expect(all('data:a\r\ndata: b\r\n\r\n: a comment\rid: 7\rretry: 10\revent:x\rdata\r\r')).toEqual([
      { event: 'message', data: 'a\nb' },
      { event: 'x', data: '' },
    ]);
    // Only one leading space is stripped; an event without data is not dispatched and does not leak its type.
    expect(all('data:  two\n\nevent: lonely\n\ndata: z\n\n')).toEqual([
      { event: 'message', data: ' two' },
      { event: 'message', data: 'z' },
    ]);
  });

  it('drops an event cut off before its blank line', () => {
    const p = new SseParser();
    expect(p.push('event: token\ndata: {"partial"')).toEqual([]);
    expect(p.end()).toEqual([]);
  });

  it('gives the same events however the text is cut (a CR LF split across pieces included)', () => {
    const text = 'event: token\r\ndata: {"t":"é"}\r\n\r\n: c\n\nevent: done\rdata: 1\rdata: 2\r\r';
    const whole = all(text);
    expect(whole).toHaveLength(2);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 12 }), (cuts) => {
        const p = new SseParser();
        const at = [0, ...cuts.sort((a, b) => a - b), text.length];
        const got = at.slice(1).flatMap((end, i) => p.push(text.slice(at[i], end)));
        expect(got).toEqual(whole);
      }),
    );
  });

  it('decodes UTF-8 split across network chunks', async () => {
    const bytes = new TextEncoder().encode('event: token\ndata: {"text":"héllo ✓"}\n\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of é
    const got: SseMessage[] = [];
    for await (const m of readSse(streamOf([bytes.slice(0, cut), bytes.slice(cut, cut + 3), bytes.slice(cut + 3)]))) got.push(m);
    expect(got).toEqual([{ event: 'token', data: '{"text":"héllo ✓"}' }]);
  });

  it('cancels the body when the reader stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const m of readSse(body)) {
      expect(m.data).toBe('x');
      break;
    }
    expect(cancelled).toBe(true);
  });
});
