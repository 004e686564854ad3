// The children's side of the IPC channel: answer the parent's requests, stop
// cleanly on { type: 'stop' } (so that --cpu-prof writes its profile), and
// never outlive the parent.
export type Message = { type: string; id?: number; [k: string]: unknown };

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
    handle(msg).then(
      (reply) => reply && sendToParent({ ...reply, id: msg.id }),
      (err: Error) => sendToParent({ type: 'error', id: msg.id, message: err.message }),
    );
  });
  process.on('disconnect', () => void stop(1));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
}
