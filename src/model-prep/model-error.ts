/** A model folder that cannot be served: names the file and the problem, for one clear start-up message. */
export class ModelError extends Error {
  override name = 'ModelError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}
