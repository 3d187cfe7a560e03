export function isHubId(s: string): boolean {
  return /^[\w.-]+\/[\w.-]+$/.test(s);
}
export interface HubOptions { endpoint: string; revision: string; cacheDir: string | null; token: string | null; onnxFile: string | null; log: (m: string) => void }
export async function downloadFromHub(id: string, _o: HubOptions): Promise<string> {
  throw new Error(`Hub download of ${id} is not implemented yet`);
}
