/**
 * The .proto files under proto/, parsed once with protobufjs, and the grpc-js service definitions
 * built from them (no code generation, no @grpc/proto-loader). Field names keep their snake_case
 * so that handlers, clients and the reflection descriptors all use the names of the .proto file.
 */
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import protobuf from 'protobufjs';
import { PROTO_DIR } from '../../paths.js';
import { fileDescriptorBytes } from './descriptors.js';

export interface ProtoFile {
  /** Path relative to proto/ (the library's path for the health service), as reflection's file_by_filename names it. */
  readonly name: string;
  readonly pkg: string;
  readonly root: protobuf.Root;
  /** Serialized google.protobuf.FileDescriptorProto. */
  readonly descriptor: Uint8Array;
}

export const PROTO_FILES = {
  tei: 'tei.proto',
  coalesce: 'coalesce.proto',
  health: 'grpc/health/v1/health.proto',
  reflectionV1: 'grpc/reflection/v1/reflection.proto',
  reflectionV1alpha: 'grpc/reflection/v1alpha/reflection.proto',
} as const;

/** Files a library serves, read from the library so that clients and reflection see what it serves. */
const FROM_LIBRARIES: Record<string, string> = { [PROTO_FILES.health]: healthProtoPath };

const cache = new Map<string, ProtoFile>();

/** One Root per file: every file here is self-contained, so each descriptor needs no dependency. */
export function loadProto(name: string): ProtoFile {
  let file = cache.get(name);
  if (!file) {
    const root = new protobuf.Root();
    const parsed = protobuf.parse(readFileSync(FROM_LIBRARIES[name] ?? join(PROTO_DIR, name), 'utf8'), root, { keepCase: true });
    root.resolveAll();
    if (!parsed.package) throw new Error(`${name} declares no package`);
    file = { name, pkg: parsed.package, root, descriptor: fileDescriptorBytes(root, name, parsed.package) };
    cache.set(name, file);
  }
  return file;
}

/** Returned by a request deserializer for bytes that are not the message, so the handler can answer INVALID_ARGUMENT. */
export class MalformedMessage {
  constructor(readonly reason: string) {}
}

function codec(type: protobuf.Type) {
  return {
    serialize: (value: unknown): Buffer => {
      const bytes = type.encode(value as protobuf.Message).finish();
      return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    // grpc-js turns a throwing deserializer into INTERNAL; malformed input is the client's fault.
    deserialize: (bytes: Buffer): unknown => {
      try {
        return type.decode(bytes);
      } catch (e) {
        return new MalformedMessage(`the request is not a valid ${type.name}: ${(e as Error).message}`);
      }
    },
  };
}

/** A grpc-js service definition for `pkg.Service`, usable by the server and by clients. */
export function serviceDefinition(file: ProtoFile, serviceName: string): ServiceDefinition {
  const service = file.root.lookupService(`${file.pkg}.${serviceName}`);
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const request = codec(method.resolvedRequestType!);
    const response = codec(method.resolvedResponseType!);
    definition[method.name] = {
      path: `/${file.pkg}.${serviceName}/${method.name}`,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      requestSerialize: request.serialize,
      requestDeserialize: request.deserialize,
      responseSerialize: response.serialize,
      responseDeserialize: response.deserialize,
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}
