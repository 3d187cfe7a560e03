/** The value after `--name` among the command-line arguments, else `fallback`: the benches' flags. */
export function flagValue(name: string, fallback: string, argv?: readonly string[]): string;
export function flagValue(name: string, fallback?: string | null, argv?: readonly string[]): string | null;
export function flagValue(name: string, fallback: string | null = null, argv: readonly string[] = process.argv.slice(2)): string | null {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
}
