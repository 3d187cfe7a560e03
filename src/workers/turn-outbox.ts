/**
 * Messages to one thread, gathered for one event-loop turn and posted together: one postMessage
 * (and one wake-up of the receiver) per turn instead of one per message.
 */
export class TurnOutbox<M> {
  private messages: M[] = [];
  private transfer: ArrayBuffer[] = [];

  /** `post` gets each turn's messages; it may drop them (e.g. when the receiver is gone). */
  constructor(private readonly post: (messages: M[], transfer: ArrayBuffer[]) => void) {}

  push(message: M, transfer: readonly ArrayBuffer[] = []): void {
    this.messages.push(message);
    this.transfer.push(...transfer);
    if (this.messages.length > 1) return;
    setImmediate(() => {
      const [messages, buffers] = [this.messages, this.transfer];
      this.messages = [];
      this.transfer = [];
      this.post(messages, buffers);
    });
  }
}
