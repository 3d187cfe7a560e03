/**
 * --api-key over gRPC: one server interceptor checks the `authorization` metadata of every call
 * before its handler runs, so no service can be left out; health stays open for probes.
 */
import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { ERROR_TYPE } from '../../errors.js';
import { UNAUTHORIZED_MESSAGE, type ApiKeys } from '../api-keys.js';

const OPEN_SERVICE = '/grpc.health.v1.Health/';

export function apiKeyInterceptor(keys: ApiKeys): ServerInterceptor {
  return (method, call) => {
    if (method.path.startsWith(OPEN_SERVICE)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            const authorization = metadata.get('authorization')[0];
            if (keys.accepts(typeof authorization === 'string' ? authorization : undefined)) return forward(metadata);
            const trailers = new Metadata();
            trailers.set('x-error-type', ERROR_TYPE.unauthorized);
            call.sendStatus({ code: status.UNAUTHENTICATED, details: UNAUTHORIZED_MESSAGE, metadata: trailers });
          },
        }),
    });
  };
}
