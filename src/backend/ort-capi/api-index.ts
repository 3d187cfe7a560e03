/**
 * Where the functions the C API path calls sit in ONNX Runtime's `OrtApi` struct: 0-based member
 * positions in `struct OrtApi` of include/onnxruntime/core/session/onnxruntime_c_api.h
 * (microsoft/onnxruntime), counted from a header of API version 30. ORT only appends members, so
 * positions below what 1.29 has hold for it; each entry says the version that added the member where
 * it is recent. A wrong position calls the wrong function, so `checkApiTable` (ort-c-api.ts) tests a
 * few with known answers (GetErrorMessage, GetBuildInfoString, GetRunConfigEntry) before anything else.
 */

/** ORT 1.29 answers GetApi for 1..29 (it names the range when asked for more). */
export const ORT_API_VERSION = 29;

export const API = {
  CreateStatus: 0,
  GetErrorCode: 1,
  GetErrorMessage: 2,
  CreateEnv: 3,
  CreateSession: 7,
  CreateSessionFromArray: 8,
  CreateSessionOptions: 10,
  EnableMemPattern: 16,
  DisableMemPattern: 17,
  SetSessionGraphOptimizationLevel: 23,
  SetIntraOpNumThreads: 24,
  SetInterOpNumThreads: 25,
  SessionGetInputCount: 30,
  SessionGetOutputCount: 31,
  SessionGetInputTypeInfo: 33,
  SessionGetOutputTypeInfo: 34,
  SessionGetInputName: 36,
  SessionGetOutputName: 37,
  CreateRunOptions: 39,
  CreateTensorAsOrtValue: 48,
  CreateTensorWithDataAsOrtValue: 49,
  GetTensorMutableData: 51,
  CastTypeInfoToTensorInfo: 55,
  GetTensorElementType: 60,
  GetDimensionsCount: 61,
  GetDimensions: 62,
  GetTensorTypeAndShape: 65,
  CreateMemoryInfo: 68,
  CreateCpuMemoryInfo: 69,
  MemoryInfoGetName: 71,
  AllocatorAlloc: 75,
  AllocatorFree: 76,
  GetAllocatorWithDefaultOptions: 78,
  ReleaseEnv: 92,
  ReleaseStatus: 93,
  ReleaseMemoryInfo: 94,
  ReleaseSession: 95,
  ReleaseValue: 96,
  ReleaseRunOptions: 97,
  ReleaseTypeInfo: 98,
  ReleaseTensorTypeAndShapeInfo: 99,
  ReleaseSessionOptions: 100,
  AddSessionConfigEntry: 130,
  CreateAllocator: 131,
  ReleaseAllocator: 132,
  RunWithBinding: 133,
  CreateIoBinding: 134,
  ReleaseIoBinding: 135,
  BindInput: 136,
  BindOutput: 137,
  BindOutputToDevice: 138,
  GetBoundOutputValues: 140,
  ClearBoundInputs: 141,
  ClearBoundOutputs: 142,
  AddRunConfigEntry: 165,
  GetTensorMemoryInfo: 194,
  SessionOptionsAppendExecutionProvider_CUDA_V2: 204,
  CreateCUDAProviderOptions: 205,
  UpdateCUDAProviderOptions: 206,
  GetCUDAProviderOptionsAsString: 207,
  ReleaseCUDAProviderOptions: 208,
  GetBuildInfoString: 254,
  /** Loads an EP library's factories (the CUDA provider of 1.29 exports CreateEpFactories), and with them its data transfer. */
  RegisterExecutionProviderLibrary: 301,
  UnregisterExecutionProviderLibrary: 302,
  GetRunConfigEntry: 373,
  /** 1.23: copies between devices through the data transfers the env knows (EP libraries registered with it). */
  CopyTensors: 386,
} as const;

export type ApiName = keyof typeof API;
