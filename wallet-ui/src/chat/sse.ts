/**
 * Server-sent events (the WHATWG HTML "event stream" format) read from a fetch body: EventSource cannot POST or send
 * an Authorization header, which a chat request needs. Lines end in CRLF, LF or CR; `event:` names the event,
 * `data:` lines are joined by LF, a blank line dispatches, lines starting with `:` are comments.
 */

/** One dispatched event: its type (`message` when the stream names none) and its data. */
export interface SseMessage {
  event: string;
  data: string;
}

/** An incremental parser: feed it text as it arrives, in pieces cut anywhere. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  /** A CR ended the last piece: an LF starting the next one belongs to it. */
  private pendingCr = false;

  /** The events completed by `text`. */
  push(text: string): SseMessage[] {
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const out: SseMessage[] = [];
    for (;;) {
      const end = this.buffer.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.buffer.slice(0, end);
      let next = end + 1;
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) this.pendingCr = true;
        else if (this.buffer[end + 1] === '\n') next++;
      }
      this.buffer = this.buffer.slice(next);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  /** The stream ended: an event without its closing blank line is dropped, as the standard says. */
  end(): SseMessage[] {
    this.buffer = '';
    this.event = '';
    this.data = [];
    return [];
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      const message = this.data.length > 0 ? { event: this.event || 'message', data: this.data.join('\n') } : undefined;
      this.event = '';
      this.data = [];
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    // `id` and `retry` only matter to EventSource's reconnection, which a POST does not do.
    return undefined;
  }
}

/** The events of a byte stream (a fetch body), decoded as UTF-8 across chunk boundaries. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    finished = true;
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    // A reader that stops early (the user stopped the answer) cancels the body, so the node sees the stream closed.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
