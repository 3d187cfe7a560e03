/**
 * Unix domain socket paths for the HTTP and gRPC listeners (--uds-path, --grpc-uds-path). A socket
 * file outlives a process that crashed, and bind() then fails with EADDRINUSE; it is replaced only
 * when it is a socket that nothing answers on, so a second server never steals a live one's path
 * and a mistyped path never deletes a regular file.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';

/** Whether something accepts connections on the socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Makes `path` free to bind: absent, or a stale socket (removed). Throws naming what is in the way. */
export async function freeSocketPath(path: string): Promise<void> {
  let kind: 'socket' | 'other';
  try {
    kind = lstatSync(path).isSocket() ? 'socket' : 'other';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (kind === 'other') throw new Error(`${path} exists and is not a socket: refusing to replace it`);
  if (await answers(path)) throw new Error(`${path}: a live server answers on this socket`);
  unlinkSync(path);
}

/** Parses an octal mode string such as '0660'. */
export function parseSocketMode(mode: string): number {
  return Number.parseInt(mode, 8);
}

/** Who may connect: a socket's file mode decides, on Linux. */
export function setSocketMode(path: string, mode: string): void {
  chmodSync(path, parseSocketMode(mode));
}

/** Removes the socket file if it is still there and still a socket (a forced exit skips the listeners' own cleanup). */
export function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    /* already gone */
  }
}
