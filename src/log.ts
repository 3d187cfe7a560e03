/** One line per event, as text or JSON (--log-format), on stderr so stdout stays free for tools. */
export type Logger = (message: string, fields?: Record<string, unknown>) => void;

export function createLogger(format: 'text' | 'json' | string, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  return (message, fields = {}) => {
    const time = new Date().toISOString();
    if (format === 'json') {
      sink(JSON.stringify({ time, message, ...fields }));
      return;
    }
    const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    sink([time, message, ...extra].join(' '));
  };
}

export const silentLogger: Logger = () => {};
