/**
 * Clients that each keep one long bidirectional stream open and write messages continuously
 * (`window` unanswered at most), as a pipeline client does: tei.v1.Embed/EmbedStream (one text a
 * message) and coalesce.v1.Coalesce/EmbedBatchStream (two texts a message), alternately. Used by
 * failover.ts while a replica is stopped.
 *
 * Answers come in request order, so when a stream ends early the client knows exactly which
 * messages got none: it counts them by how the stream ended (a gRPC status from the wire, or none:
 * a reset or a dropped connection), opens a new stream on the same channel and sends them again,
 * as a client that wants every message answered does (embedding is safe to repeat). Every answer
 * is checked against the reference vector of its text, so a mixed-up order counts as wrong.
 */
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadProto, PROTO_FILES, serviceDefinition } from '../src/transport/grpc/protos.js';

export interface StreamCounts {
  /** Streams opened; every one after a client's first is a reconnect. */
  streams: number;
  /** Streams that ended before answering anything (a reconnect that did not get through). */
  emptyStreams: number;
  /** How the streams ended, by status ("UNAVAILABLE (shutting down)", "INTERNAL: RST_STREAM 0", "OK"). */
  endings: Record<string, number>;
  /** Messages written, resent ones included. */
  sent: number;
  /** Of `sent`: messages written again after their stream ended without answering them. */
  resent: number;
  answered: number;
  /** Answers whose vector is not the reference vector of the message's text. */
  wrong: number;
  /** Answers that arrived after the stopped replica had exited (so from the other replica). */
  answeredAfterExit: number;
  /** Messages left unanswered by a stream that ended with a gRPC status, by that status. */
  refused: Record<string, number>;
  /** Messages left unanswered by a stream that ended without a gRPC status, by what the client saw. */
  lost: Record<string, number>;
  /** Distinct messages still unanswered when the run ended (after every resend). */
  unanswered: number;
}

export interface StreamLoadOptions {
  clients: number;
  /** Messages written and not yet answered, per stream. */
  window: number;
  /** How long stop() waits for the last answers before it cancels what is left. */
  stopTimeoutMs: number;
  channelOptions?: grpc.ChannelOptions;
}

/**
 * The details grpc-js makes up when no grpc-status came (subchannel-call.ts, picker.ts): the stream
 * was cut. A socket error ("read ECONNRESET") has no pattern, but neither headers nor trailers.
 */
const NO_STATUS =
  /^(Received RST_STREAM with code (\d+)|Received HTTP status code (\d+)|Stream refused by server|Connection dropped|No status information received|(?:round_robin: )?No connection established|Call cancelled|Write (?:error|failed))/;
/** The server's own status for a stream it wound down while shutting down (src/transport/grpc/calls.ts). */
const SHUTTING_DOWN = /^the server is shutting down/;

function describe(status: grpc.StatusObject): { label: string; cut: boolean } {
  const name = grpc.status[status.code] ?? String(status.code);
  if (status.code === grpc.status.OK) return { label: 'OK', cut: false };
  const m = NO_STATUS.exec(status.details);
  if (!m && Object.keys(status.metadata.getMap()).length === 0 && !SHUTTING_DOWN.test(status.details)) {
    return { label: `${name}: ${status.details.slice(0, 60)}`, cut: true };
  }
  if (m) {
    const what = m[2] !== undefined ? `RST_STREAM ${m[2]}` : m[3] !== undefined ? `HTTP ${m[3]}` : m[1].replace(/^round_robin: /, '');
    return { label: `${name}: ${what}`, cut: true };
  }
  return { label: SHUTTING_DOWN.test(status.details) ? `${name} (shutting down)` : `${name}: ${status.details.slice(0, 60)}`, cut: false };
}

const add = (counts: Record<string, number>, key: string, n = 1) => {
  if (n > 0) counts[key] = (counts[key] ?? 0) + n;
};

const TEXTS = Array.from({ length: 16 }, (_, i) => `a stream message, number ${i}`);
const SECOND = 'a second input';

type Method = 'EmbedStream' | 'EmbedBatchStream';

/** The reference vector of every text, from unary calls to `target` before the load starts. */
export async function referenceVectors(target: string): Promise<Float32Array[]> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(loadProto(PROTO_FILES.tei), 'Embed'), 'Embed');
  const client = new Client(target, grpc.credentials.createInsecure());
  try {
    return await Promise.all(
      TEXTS.map(
        (inputs) =>
          new Promise<Float32Array>((resolve, reject) =>
            (client as unknown as Record<string, Function>).Embed.call(
              client,
              { inputs, normalize: true, truncate: true },
              (e: grpc.ServiceError | null, r: { embeddings: number[] }) => (e ? reject(e) : resolve(Float32Array.from(r.embeddings))),
            ),
          ),
      ),
    );
  } finally {
    client.close();
  }
}

function sameVector(a: ArrayLike<number>, b: Float32Array): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-4) return false;
  return true;
}

/** The first row of an EmbedBatchResponse's packed little-endian float32 matrix. */
function firstRow(r: { embeddings: Uint8Array; rows: number; dimensions: number }): Float32Array {
  if (r.rows !== 2) return new Float32Array(0);
  const bytes = Buffer.from(r.embeddings);
  return Float32Array.from({ length: r.dimensions }, (_, i) => bytes.readFloatLE(i * 4));
}

/** Client i connects to targets[i % targets.length]. */
export function streamLoad(targets: string[], references: Float32Array[], o: StreamLoadOptions): { exited(): void; stop(): Promise<StreamCounts> } {
  const tei = grpc.makeGenericClientConstructor(serviceDefinition(loadProto(PROTO_FILES.tei), 'Embed'), 'Embed');
  const coalesce = grpc.makeGenericClientConstructor(serviceDefinition(loadProto(PROTO_FILES.coalesce), 'Coalesce'), 'Coalesce');
  const counts: StreamCounts = {
    streams: 0,
    emptyStreams: 0,
    endings: {},
    sent: 0,
    resent: 0,
    answered: 0,
    wrong: 0,
    answeredAfterExit: 0,
    refused: {},
    lost: {},
    unanswered: 0,
  };
  let running = true;
  let abandoned = false;
  let exited = false;
  /** Per open stream: writes what it may now (called when stop() begins) and cancels it (at stop's deadline). */
  const open = new Set<{ pump(): void; cancel(): void }>();

  const client = (i: number) => {
    const method: Method = i % 2 === 0 ? 'EmbedStream' : 'EmbedBatchStream';
    // A channel (an HTTP/2 connection) of its own, or grpc-js would share one between the clients.
    const channel = new (method === 'EmbedStream' ? tei : coalesce)(targets[i % targets.length], grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      ...o.channelOptions,
    });
    const message = (id: number) =>
      method === 'EmbedStream'
        ? { inputs: TEXTS[id % TEXTS.length], normalize: true, truncate: true }
        : { inputs: [TEXTS[id % TEXTS.length], SECOND], normalize: true, truncate: true };
    const vectorOf = (response: any): ArrayLike<number> => (method === 'EmbedStream' ? (response.embeddings ?? []) : firstRow(response));
    /** Messages to send again, in order, before any new one. */
    const again: number[] = [];
    let next = 0;

    /** One stream, until it ends; resolves with whether it answered anything. */
    const oneStream = () =>
      new Promise<boolean>((resolve) => {
        counts.streams++;
        const call = (channel as unknown as Record<Method, () => grpc.ClientDuplexStream<object, any>>)[method].call(channel);
        const unanswered: number[] = [];
        let inputClosed = false;
        let ended = false;
        let answers = 0;
        const pump = () => {
          while (!ended && !inputClosed && unanswered.length < o.window) {
            const resend = again.length > 0;
            const id = resend ? again.shift()! : running ? next++ : -1;
            if (id < 0) break;
            unanswered.push(id);
            counts.sent++;
            if (resend) counts.resent++;
            call.write(message(id));
          }
          // Stopping: once every message was sent (again), the client ends its side and reads the rest.
          if (!ended && !inputClosed && !running && again.length === 0) {
            inputClosed = true;
            call.end();
          }
        };
        const self = { pump, cancel: () => call.cancel() };
        open.add(self);
        call.on('data', (response: unknown) => {
          const id = unanswered.shift();
          if (id === undefined) return;
          answers++;
          counts.answered++;
          if (exited) counts.answeredAfterExit++;
          if (!sameVector(vectorOf(response), references[id % TEXTS.length])) counts.wrong++;
          pump();
        });
        call.on('error', () => {}); // the status says how it ended
        call.on('status', (status: grpc.StatusObject) => {
          ended = true;
          open.delete(self);
          const { label, cut } = abandoned ? { label: 'no answer by the end of the run', cut: true } : describe(status);
          add(counts.endings, label);
          add(cut ? counts.lost : counts.refused, label, unanswered.length);
          again.unshift(...unanswered);
          if (answers === 0 && status.code !== grpc.status.OK) counts.emptyStreams++;
          resolve(answers > 0);
        });
        pump();
      });

    return (async () => {
      let backoff = 10;
      while (!abandoned && (running || again.length > 0)) {
        const answered = await oneStream();
        if (answered) backoff = 10;
        else if (!abandoned && (running || again.length > 0)) {
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 500);
        }
      }
      counts.unanswered += again.length;
      channel.close();
    })();
  };
  const workers = Array.from({ length: o.clients }, (_, i) => client(i));

  return {
    exited: () => {
      exited = true;
    },
    stop: async () => {
      running = false;
      for (const s of open) s.pump();
      const timer = setTimeout(() => {
        abandoned = true;
        for (const s of open) s.cancel();
      }, o.stopTimeoutMs);
      await Promise.all(workers);
      clearTimeout(timer);
      return counts;
    },
  };
}
