/**
 * Replies the main thread reads first. A session that finished a model call idles until the main
 * thread reads its reply and hands it the next batch, but Node delivers a port's messages only
 * when the event loop reaches that port, behind whatever other threads sent (HTTP calls,
 * tokenizer answers). So such replies also travel on a port of their own with a shared flag, and
 * the main thread's other message handlers read them first (pollUrgentReplies), synchronously.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** What the worker gets: where to post its replies, and the flag to raise after each. */
export interface UrgentReplyTarget {
  type: 'urgent-replies';
  port: MessagePort;
  flag: SharedArrayBuffer;
}

interface Inbox {
  port: MessagePort;
  flag: Int32Array;
  handle(message: unknown): void;
}

const inboxes = new Set<Inbox>();

/**
 * A channel whose messages go to `handle`, through the event loop as usual or earlier through
 * pollUrgentReplies; each message is handled once. Send `target` to the worker (transferring
 * `target.port`); `close` stops listening.
 */
export function openUrgentReplies(handle: (message: unknown) => void): { target: UrgentReplyTarget; close(): void } {
  const { port1, port2 } = new MessageChannel();
  const flag = new SharedArrayBuffer(4);
  const inbox: Inbox = { port: port1, flag: new Int32Array(flag), handle };
  inboxes.add(inbox);
  port1.on('message', handle);
  return {
    target: { type: 'urgent-replies', port: port2, flag },
    close: () => {
      inboxes.delete(inbox);
      port1.close();
    },
  };
}

/** In the worker: posts `message` to the main thread's inbox and raises its flag. */
export function postUrgentReply(target: { port: MessagePort; flag: Int32Array }, message: unknown, transfer: ArrayBuffer[] = []): void {
  target.port.postMessage(message, transfer);
  // After the post: once the main thread sees the flag, the message is there to read.
  Atomics.store(target.flag, 0, 1);
}

/** Handles every urgent reply already sent; a check of one shared flag per inbox when there are none. */
export function pollUrgentReplies(): void {
  for (const inbox of inboxes) {
    if (Atomics.load(inbox.flag, 0) === 0) continue;
    // Lowered before reading, so a reply posted during the reads raises it again.
    Atomics.store(inbox.flag, 0, 0);
    for (let m = receiveMessageOnPort(inbox.port); m; m = receiveMessageOnPort(inbox.port)) inbox.handle(m.message);
  }
}
