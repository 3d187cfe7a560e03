/**
 * The value after the last `--name` among the command-line arguments, else `fallback`: the
 * benches' flags. The last one wins, so flags added after a script's own replace them.
 */
export function flagValue(name: string, fallback: string, argv?: readonly string[]): string;
export function flagValue(name: string, fallback?: string | null, argv?: readonly string[]): string | null;
export function flagValue(name: string, fallback: string | null = null, argv: readonly string[] = process.argv.slice(2)): string | null {
  const i = argv.lastIndexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
}
