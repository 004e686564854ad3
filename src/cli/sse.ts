// Reads a Server-Sent Events stream (the pipeline's run events) with undici.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request } from 'undici';

export interface SseEvent {
  event: string;
  data: string;
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

/** The events of one stream, in order, until the server closes it. */
export async function* sseEvents(
  url: string,
  opts: { signal?: AbortSignal; headers?: Record<string, string> } = {},
): AsyncGenerator<SseEvent> {
  const res = await request(url, {
    headers: { accept: 'text/event-stream', ...opts.headers },
    signal: opts.signal,
    // The stream is quiet between progress events; heartbeats come every 15 s.
    bodyTimeout: 0,
  });
  if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode, await res.body.text());
  const queue: SseEvent[] = [];
  const parser = createParser({
    onEvent: (m: EventSourceMessage) => queue.push({ event: m.event ?? 'message', data: m.data }),
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      while (queue.length) yield queue.shift()!;
    }
  } finally {
    // A consumer that stops early (or throws) lets go of the connection.
    res.body.destroy();
  }
}
