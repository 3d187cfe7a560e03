/**
 * Messages between an HTTP thread and the main thread, which owns the facades (and through them
 * the batchers and the model). One call per facade method a route uses; a call whose request
 * carried a cancel signal can be cancelled by id, since signals do not cross threads. Each
 * postMessage carries an array: everything one side produced in one event-loop turn.
 */
import type { ErrorKind } from '../../../errors.js';
import type { ImageFacade, TextFacade } from '../app.js';
import type { AccessSpec } from '../access.js';
import type { ArrivalEncoderSpec } from '../../../preprocess/arrival-encoder.js';
import type { RangesData } from '../../../core/quantization-ranges.js';

export type FacadeMethod =
  | 'text.embed'
  | 'text.tokenize'
  | 'text.decode'
  | 'text.rerank'
  | 'text.predict'
  | 'text.embedSparse'
  | 'text.embedAll'
  | 'images.embed'
  | 'classifier.classify'
  | 'model.info'
  | 'server.ready'
  | 'server.info'
  | 'server.metrics';

export interface CallMessage {
  type: 'call';
  id: number;
  method: FacadeMethod;
  args: unknown[];
  /** The first argument had a signal: the host gives the call its own, aborted on 'cancel'. */
  cancellable: boolean;
  /** The served model whose facade answers (several models); unset: the default one. */
  model?: string;
}

export interface CancelMessage {
  type: 'cancel';
  id: number;
}

export interface WireError {
  kind: ErrorKind;
  message: string;
  param?: string;
}

export type ReplyMessage = { type: 'reply'; id: number; ok: unknown } | { type: 'reply'; id: number; error: WireError };

/** What an HTTP thread is told at start: how to listen, and what does not change while it serves. */
export interface HttpThreadData {
  /** The first thread binds hostname:port; the others accept on its listening socket. */
  listen: { hostname: string; port: number } | { path: string } | { fd: number };
  modelName: string;
  payloadLimit: number;
  access?: AccessSpec;
  /** The facades' `info`, which never changes after start. */
  textInfo: TextFacade['info'];
  imageInfo: ImageFacade['info'] | null;
  /** int8/uint8 ranges, applied on the thread (their data: calibration vectors or fixed ranges). */
  quantization?: RangesData | null;
  promptNames?: readonly string[];
  /** With several models: each one's name, facades' info and /v1/models facts; the first is the default. */
  models?: { name: string; textInfo: TextFacade['info']; imageInfo: ImageFacade['info'] | null; listing?: Record<string, unknown> }[];
  /** The text tokenizer, for encoding plain ASCII text on the thread; null when it has no fast path. */
  arrival: ArrivalEncoderSpec | null;
  /** Open connections per HTTP thread (Int32Array over a SharedArrayBuffer) and this thread's slot in it. */
  connections: { counts: SharedArrayBuffer; slot: number };
  /** Idle time before this thread hands back the heap it grew under load (idle-heap-release.ts); 0: never. */
  idleHeapReleaseMs?: number;
}

/** From an HTTP thread to the main thread, besides facade calls (which use their own port). */
export type HttpThreadEvent = { type: 'listening'; fd: number; port: number } | { type: 'listen-failed'; message: string } | { type: 'stopped' };

/**
 * From the main thread: 'stop' closes the thread's connections once their answers are written and
 * they are idle (connection-drain.ts), however long that takes: the process's --shutdown-timeout
 * bounds it. The owner of the socket also closes it.
 */
export interface StopMessage {
  type: 'stop';
  closeListener: boolean;
}
