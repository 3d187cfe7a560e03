/**
 * Server reflection (grpc.reflection.v1 and v1alpha, the same protocol under two names), so
 * grpcurl-style tools can list the services and fetch their descriptors without the .proto files.
 * Every file served is self-contained (no imports), so a file's descriptor is the whole answer.
 */
import { status, type Server, type UntypedServiceImplementation } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { orderedStream } from './calls.js';
import { loadProto, PROTO_FILES, serviceDefinition, type ProtoFile } from './protos.js';

interface ReflectionRequest {
  host: string;
  message_request?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type: string; extension_number: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

type ReflectionAnswer =
  | { file_descriptor_response: { file_descriptor_proto: Uint8Array[] } }
  | { all_extension_numbers_response: { base_type_name: string; extension_number: number[] } }
  | { list_services_response: { service: { name: string }[] } }
  | { error_response: { error_code: number; error_message: string } };

const notFound = (message: string): ReflectionAnswer => ({ error_response: { error_code: status.NOT_FOUND, error_message: message } });

export class Reflection {
  private readonly files: ProtoFile[] = [];
  private readonly services: string[] = [];

  /** Makes `services`, defined in `file`, visible to reflection. */
  register(file: ProtoFile, services: readonly string[]): void {
    if (!this.files.includes(file)) this.files.push(file);
    this.services.push(...services);
  }

  private fileContaining(symbol: string): ProtoFile | undefined {
    return this.files.find((f) => {
      if (!symbol.startsWith(f.pkg + '.')) return false;
      const found = f.root.lookup(symbol);
      // A bare package segment ("tei") is a plain Namespace, not a symbol of the file.
      return found !== null && found.constructor !== protobuf.Namespace;
    });
  }

  answer(request: ReflectionRequest): ReflectionAnswer {
    const symbol = (s: string) => s.replace(/^\./, '');
    switch (request.message_request) {
      case 'list_services':
        return { list_services_response: { service: this.services.map((name) => ({ name })) } };
      case 'file_by_filename': {
        const file = this.files.find((f) => f.name === request.file_by_filename);
        return file ? { file_descriptor_response: { file_descriptor_proto: [file.descriptor] } } : notFound(`no file ${request.file_by_filename}`);
      }
      case 'file_containing_symbol': {
        const file = this.fileContaining(symbol(request.file_containing_symbol!));
        return file ? { file_descriptor_response: { file_descriptor_proto: [file.descriptor] } } : notFound(`no symbol ${request.file_containing_symbol}`);
      }
      case 'all_extension_numbers_of_type': {
        // No served message declares extension ranges: known types have none.
        const name = symbol(request.all_extension_numbers_of_type!);
        const file = this.fileContaining(name);
        return file ? { all_extension_numbers_response: { base_type_name: name, extension_number: [] } } : notFound(`no type ${name}`);
      }
      case 'file_containing_extension':
        return notFound('no extensions are defined');
      default:
        return { error_response: { error_code: status.INVALID_ARGUMENT, error_message: 'the request names no message_request' } };
    }
  }

  /** Adds both protocol versions to the server, and registers them with themselves. */
  addTo(server: Server): string[] {
    const added: string[] = [];
    for (const name of [PROTO_FILES.reflectionV1, PROTO_FILES.reflectionV1alpha]) {
      const file = loadProto(name);
      const service = `${file.pkg}.ServerReflection`;
      server.addService(serviceDefinition(file, 'ServerReflection'), {
        ServerReflectionInfo: orderedStream(
          async (request: ReflectionRequest) => ({ valid_host: request.host, original_request: request, ...this.answer(request) }),
          { maxInFlight: 16 },
        ),
      } as UntypedServiceImplementation);
      this.register(file, [service]);
      added.push(service);
    }
    return added;
  }
}
