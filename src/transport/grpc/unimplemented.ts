/**
 * Handlers for the methods of TEI's services that Coalesce does not serve: every call, unary or
 * streaming, ends with UNIMPLEMENTED and a message naming the method and why, rather than
 * grpc-js' generic "does not implement the method".
 */
import { Metadata, status, type ServerErrorResponse } from '@grpc/grpc-js';

type AnyCall = { emit(event: 'error', error: ServerErrorResponse): unknown };

export function unimplemented(method: string, reason: string) {
  return (call: AnyCall, callback?: (error: ServerErrorResponse) => void): void => {
    const details = `${method} is not served by Coalesce: ${reason}`;
    const error = Object.assign(new Error(details), { code: status.UNIMPLEMENTED, details, metadata: new Metadata() });
    // Unary and client-streaming calls answer through their callback; server and bidi streams end with the error.
    if (typeof callback === 'function') callback(error);
    else call.emit('error', error);
  };
}
