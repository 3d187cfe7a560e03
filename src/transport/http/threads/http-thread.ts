/**
 * One HTTP thread: the same routes as the main thread's, listening on the shared socket, with
 * facades that are messages to the main thread (facade-client.ts).
 */
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createHttpServer } from '../listener.js';
import { ConnectionDrain } from '../connection-drain.js';
import { FacadeClient, remoteDeps } from './facade-client.js';
import type { HttpThreadData, HttpThreadEvent, StopMessage } from './facade-protocol.js';
import { overShare } from './connection-share.js';
import { releaseHeapWhenIdle } from '../../../idle-heap-release.js';

const { data, calls } = workerData as { data: HttpThreadData; calls: MessagePort };
const post = (m: HttpThreadEvent) => parentPort!.postMessage(m);

const client = new FacadeClient(calls);
const server = createHttpServer(remoteDeps(client, data));
const connections = new ConnectionDrain(server);
// Parsing and JSON grow this thread's heap under load as they grow the main thread's.
const stopHeapRelease = releaseHeapWhenIdle({ idleMs: data.idleHeapReleaseMs ?? 0, busy: () => client.inFlight > 0 });

server.once('error', (e) => post({ type: 'listen-failed', message: e.message }));
const onListening = () => {
  const handle = (server as unknown as { _handle?: { fd?: number } })._handle;
  const address = server.address();
  post({ type: 'listening', fd: handle?.fd ?? -1, port: address && typeof address === 'object' ? (address as AddressInfo).port : 0 });
};
if ('fd' in data.listen) server.listen({ fd: data.listen.fd }, onListening);
else if ('path' in data.listen) server.listen(data.listen.path, onListening);
else server.listen(data.listen.port, data.listen.hostname, onListening);

// Connections open now, this thread's slot among all threads' (connection-share.ts). At stop,
// each is closed once its answer is written.
const counts = new Int32Array(data.connections.counts);
const slot = data.connections.slot;
server.on('connection', (socket) => {
  Atomics.add(counts, slot, 1);
  socket.once('close', () => Atomics.sub(counts, slot, 1));
});

let closing = 0;
// Ahead of the routes' listener: a route may answer before it returns (415, 404), and a header
// set after that throws ERR_HTTP_HEADERS_SENT, which ended this thread and the port with it.
server.prependListener('request', (_req, res) => {
  const socket = res.socket;
  if (!socket || res.headersSent || !overShare(counts, slot, closing)) return;
  closing++;
  res.setHeader('connection', 'close');
  socket.once('close', () => closing--);
});

parentPort!.on('message', async (m: StopMessage) => {
  if (m.type !== 'stop') return;
  stopHeapRelease();
  // Only the thread that bound the socket closes it. The others share its one file descriptor:
  // closing theirs too would close the number again, maybe after something else reused it, so
  // their listening handles stay open, idle, until the process ends.
  if (m.closeListener) connections.stopListening();
  // As on the main thread: requests already on a connection are answered (503 once the facades
  // drained), then their connections close. No deadline here: the main thread's
  // --shutdown-timeout cuts what is left.
  await connections.closeConnections();
  while (client.inFlight > 0) await sleep(5);
  post({ type: 'stopped' });
});
