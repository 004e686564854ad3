// The children's side of the IPC channel: answer the parent's requests, stop
// cleanly on { type: 'stop' } (so that --cpu-prof writes its profile), and
// never outlive the parent.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

// Memory sampling on demand (RSS runs): the highest value of each part of
// process.memoryUsage() between mem-start and mem-stop, to tell a JS heap
// peak from Buffers (external) or native memory.
let memTimer: NodeJS.Timeout | null = null;
let memMax: Record<string, number> = {};
function memoryCommand(msg: Message): Message | undefined {
  if (msg.type === 'mem-start') {
    memMax = {};
    const sample = () => {
      for (const [k, v] of Object.entries(process.memoryUsage())) memMax[k] = Math.max(memMax[k] ?? 0, v as number);
    };
    sample();
    memTimer = setInterval(sample, 50);
    return { type: 'mem-started' };
  }
  if (msg.type === 'mem-gc') {
    // Only with node --expose-gc (run.ts --heap-trace): what survives a full GC.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('mem-gc needs node --expose-gc');
    gc();
    return { type: 'mem', now: { ...process.memoryUsage() } };
  }
  if (msg.type === 'mem-stop') {
    if (memTimer) clearInterval(memTimer);
    memTimer = null;
    return { type: 'mem', max: memMax };
  }
  return undefined;
}

export type Message = { type: string; id?: number; [k: string]: unknown };

// CPU profiling on demand (run.ts --profile): the parent brackets each
// measurement with profile-start / profile-stop, so a profile holds one
// measurement, not the start-up or the other measurements.
let session: Session | null = null;
async function profileCommand(msg: Message): Promise<Message | undefined> {
  if (msg.type === 'profile-start') {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    return { type: 'profiling' };
  }
  if (msg.type === 'profile-stop' && session) {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    session = null;
    await writeFile(String(msg.file), JSON.stringify(profile));
    return { type: 'profiled' };
  }
  return undefined;
}

export function sendToParent(msg: Message): void {
  process.send?.(msg);
}

export function onParentMessage(handle: (msg: Message) => Promise<Message | undefined>, close: () => Promise<void>): void {
  const stop = async (code: number) => {
    const timer = setTimeout(() => process.exit(code), 5000);
    timer.unref();
    await close().catch(() => {});
    process.exit(code);
  };
  process.on('message', (msg: Message) => {
    if (msg.type === 'stop') {
      void stop(0);
      return;
    }
    const reply = msg.type.startsWith('profile-')
      ? profileCommand(msg)
      : msg.type.startsWith('mem-')
        ? Promise.resolve(memoryCommand(msg))
        : handle(msg);
    reply.then(
      (reply) => reply && sendToParent({ ...reply, id: msg.id }),
      (err: Error) => sendToParent({ type: 'error', id: msg.id, message: err.message }),
    );
  });
  process.on('disconnect', () => void stop(1));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
}
