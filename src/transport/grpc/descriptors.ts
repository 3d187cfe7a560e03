/**
 * Serialized FileDescriptorProtos for server reflection, from protobufjs' descriptor extension.
 * That extension leaves four things that reflection clients (grpcurl, Go's protodesc) trip on,
 * fixed here: type references are relative ("Metadata" instead of ".tei.v1.Metadata"), proto3
 * `optional` fields lose their proto3_optional flag (it is written under the wrong name), map
 * entries are not named `<Field>Entry`, and the file is named after the package instead of its path.
 */
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

interface FieldDescriptor {
  name: string;
  typeName?: string;
  proto3Optional?: boolean;
  options?: object | null;
}

interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
}

interface FileDescriptor {
  name: string;
  package?: string;
  messageType: MessageDescriptor[];
}

/** protoc's name for a map field's entry message: `statuses` -> `StatusesEntry`. */
const mapEntryName = (field: string): string => field.replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase()) + 'Entry';

function fixMessage(message: MessageDescriptor, type: protobuf.Type): void {
  for (const fd of message.field) {
    const field = type.fields[fd.name];
    if (!field) continue;
    field.resolve();
    if (field instanceof protobuf.MapField) {
      // The entry is nested in this message, under protoc's name; its value refers to the value type.
      const entry = message.nestedType.find((n) => n.name === fd.typeName);
      if (!entry) continue;
      entry.name = mapEntryName(fd.name);
      fd.typeName = `${type.fullName}.${entry.name}`;
      const value = entry.field.find((f) => f.name === 'value');
      if (value && field.resolvedType) value.typeName = field.resolvedType.fullName;
      continue;
    }
    if (field.resolvedType) fd.typeName = field.resolvedType.fullName; // fullName carries the leading dot
    if (field.options?.proto3_optional) fd.proto3Optional = true;
    // protobufjs keeps its own bookkeeping (proto3_optional) as field options; they are not FieldOptions.
    if (fd.options && Object.keys(descriptor.FieldOptions.toObject(fd.options as protobuf.Message)).length === 0) fd.options = null;
  }
  for (const nested of message.nestedType) {
    const nestedType = type.nested?.[nested.name];
    if (nestedType instanceof protobuf.Type) fixMessage(nested, nestedType);
  }
}

/** The FileDescriptorProto of the package `pkg` in `root`, named `fileName`, serialized. */
export function fileDescriptorBytes(root: protobuf.Root, fileName: string, pkg: string): Uint8Array {
  const set = (root as unknown as { toDescriptor(syntax: string): { file: FileDescriptor[] } }).toDescriptor('proto3');
  const file = set.file.find((f) => f.package === pkg);
  if (!file) throw new Error(`${fileName}: no package ${pkg}`);
  file.name = fileName;
  for (const message of file.messageType) fixMessage(message, root.lookupType(`${pkg}.${message.name}`));
  return descriptor.FileDescriptorProto.encode(file as unknown as protobuf.Message).finish();
}
