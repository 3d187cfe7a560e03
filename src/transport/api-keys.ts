/**
 * API keys as TEI takes them (--api-key / API_KEY), several at once so keys rotate without a
 * restart gap. Both transports check the same `authorization: Bearer <key>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

export class ApiKeys {
  /** Hashes only: comparing equal-length digests in constant time says nothing about a key's length or prefix. */
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** The keys in a --api-key value: comma-separated, blanks ignored. */
  static parse(value: string | null | undefined): string[] {
    return (value ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether an `authorization` header value carries one of the keys (every key is compared, whichever matches). */
  accepts(authorization: string | undefined): boolean {
    if (!this.enabled) return true;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    if (!m) return false;
    const candidate = digest(m[1]);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(candidate, d) || ok;
    return ok;
  }
}

export const UNAUTHORIZED_MESSAGE = 'missing or wrong API key: send the header `Authorization: Bearer <key>`';
