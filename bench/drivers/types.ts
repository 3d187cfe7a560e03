/**
 * What the load generator drives: one call per request, resolved once the whole response has
 * arrived (and was checked), rejected on any error. HTTP, gRPC and in-process drivers share it,
 * so every transport runs the same request stream.
 */
export interface Driver {
  embed(texts: string[]): Promise<void>;
  close(): void;
}

export type DriverFactory = (target: string) => Promise<Driver>;
