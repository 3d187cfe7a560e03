/**
 * Failures the fuzz suites found, replayed first on every run (fast-check `seed` and `path` of the
 * shrunk counterexample); `what` says what was wrong and is now fixed.
 */
export interface Regression {
  seed: number;
  path: string;
  what: string;
}

export const regressions: { http: Regression[]; grpc: Regression[] } = {
  http: [],
  grpc: [],
};
