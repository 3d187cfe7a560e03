import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { ensureDefaultModel } from './default-model.js';
import { downloadFromHub, isHubId } from './hub.js';

/** Turns --model into a local folder: the embedded default, a folder, or a Hub download. */
export async function resolveModelDir(config: Config, log: Logger): Promise<{ dir: string; id: string }> {
  if (config.model === null) {
    const dir = await ensureDefaultModel((m) => log(m), config.defaultModelDir ?? undefined);
    return { dir, id: 'coalesce/wink-glove-100d' };
  }
  const local = resolve(config.model);
  if (existsSync(local)) return { dir: local, id: config.model };
  if (isHubId(config.model)) {
    const dir = await downloadFromHub(config.model, {
      endpoint: config.hubEndpoint,
      revision: config.revision,
      cacheDir: config.hubCache,
      token: config.hubToken,
      onnxFile: config.onnxFile,
      dtype: config.dtype,
      offline: config.hubOffline,
      log: (m) => log(m),
    });
    return { dir, id: config.model };
  }
  return { dir: local, id: config.model }; // readManifest names the missing folder
}
