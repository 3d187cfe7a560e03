/**
 * The models one process serves, by served name, with the default one (TEI routes, tei.v1 and
 * requests that name no model get it). Transports look models up here; an unknown name is a
 * not_found naming the served ones.
 */
import { CoalesceError } from '../errors.js';

/** What the registry needs of a model; the transports' facades and the composition root's ServedModel both fit. */
export interface NamedModel {
  readonly name: string;
}

export class ModelRegistry<M extends NamedModel> {
  private readonly byName: Map<string, M>;
  readonly default: M;

  constructor(
    readonly models: readonly M[],
    defaultName: string = models[0]?.name,
  ) {
    if (models.length === 0) throw new Error('a model registry needs at least one model');
    this.byName = new Map();
    for (const m of models) {
      if (this.byName.has(m.name)) throw new Error(`two models are named '${m.name}'`);
      this.byName.set(m.name, m);
    }
    const found = this.byName.get(defaultName);
    if (!found) throw new Error(`the default model '${defaultName}' is not served (served: ${this.names.join(', ')})`);
    this.default = found;
  }

  get names(): string[] {
    return this.models.map((m) => m.name);
  }

  get size(): number {
    return this.models.length;
  }

  /** The model of that served name; undefined, null or '' is the default one. Throws not_found naming the served models. */
  get(name: string | null | undefined, param = 'model'): M {
    if (name === undefined || name === null || name === '') return this.default;
    const found = this.byName.get(name);
    if (!found)
      throw new CoalesceError('not_found', `The model \`${name}\` does not exist: this server serves ${this.names.map((n) => `\`${n}\``).join(', ')}`, param);
    return found;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }
}
