/**
 * Server reflection (grpc.reflection.v1 and v1alpha) from @grpc/reflection, so grpcurl-style tools
 * can list the services and fetch their descriptors without the .proto files.
 *
 * The library indexes a proto-loader PackageDefinition, of which it reads only each entry's
 * serialized FileDescriptorProtos. Those given here are protos.ts' own (descriptors.ts): named
 * by their paths under proto/ and with absolute type names, which proto-loader's are not
 * ("tei_v1.proto", relative references that grpcurl's descriptor builder refuses).
 */
import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { loadProto, PROTO_FILES, type ProtoFile } from './protos.js';

const REFLECTION_FILES = [PROTO_FILES.reflectionV1, PROTO_FILES.reflectionV1alpha];

function packageDefinition(files: readonly ProtoFile[]): PackageDefinition {
  const definition: Record<string, unknown> = {};
  for (const file of files) definition[file.pkg] = { format: 'Protocol Buffer 3 FileDescriptorProto', fileDescriptorProtos: [Buffer.from(file.descriptor)] };
  return definition as PackageDefinition;
}

/**
 * Adds both reflection services to `server`. Reflection lists `services` (those served, not every
 * service the files declare) and itself; it describes every file of `files`.
 */
export function addReflection(server: Server, files: readonly ProtoFile[], services: readonly string[]): string[] {
  const own = REFLECTION_FILES.map((name) => loadProto(name));
  const added = own.map((file) => `${file.pkg}.ServerReflection`);
  new ReflectionService(packageDefinition([...files, ...own]), { services: [...services, ...added] }).addToServer(server);
  return added;
}
