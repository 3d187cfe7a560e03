import { overLimit, validation } from '../errors.js';
import type { Embedder } from './embedder.js';
import type { ImageEmbedder } from './image-embedder.js';
import type { CancelSignal } from './cancellation.js';

/** How a two-tower model turns image-text similarity into scores. */
export interface ZeroShotScoring {
  /** SigLIP scores each label on its own (sigmoid); CLIP makes labels compete (softmax). */
  kind: 'sigmoid' | 'softmax';
  /** logit = scale * cosine + bias; scale is the exponentiated logit_scale. */
  scale: number;
  bias: number;
}

export interface ClassifyRequest {
  inputs: readonly string[];
  labels: readonly string[];
  /** e.g. "a photo of a {}." ; each label replaces "{}". */
  hypothesisTemplate?: string;
  signal?: CancelSignal;
  /** Epoch ms by which it must be answered (see RequestScope). */
  deadline?: number;
}

export interface LabelScore {
  label: string;
  score: number;
}

/** Pure scoring, exported for tests: one list per image, labels sorted by score (highest first). */
export function scoreLabels(imageVectors: Float32Array[], labelVectors: Float32Array[], labels: readonly string[], scoring: ZeroShotScoring): LabelScore[][] {
  return imageVectors.map((img) => {
    const logits = labelVectors.map((t) => {
      let dot = 0;
      for (let i = 0; i < img.length; i++) dot += img[i] * t[i];
      return scoring.scale * dot + scoring.bias;
    });
    let scores: number[];
    if (scoring.kind === 'sigmoid') {
      scores = logits.map((l) => 1 / (1 + Math.exp(-l)));
    } else {
      const max = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      scores = exps.map((e) => e / sum);
    }
    return labels.map((label, i) => ({ label, score: scores[i] })).sort((a, b) => b.score - a.score);
  });
}

/**
 * Zero-shot image classification: embeds the images and the labels (both normalized), then
 * scores them with the model's own logit scale and bias. Each half is admitted on its own.
 */
export class ZeroShotClassifier {
  constructor(
    private readonly images: ImageEmbedder,
    private readonly texts: Embedder,
    readonly scoring: ZeroShotScoring,
    /** Labels are embedded as one text request: --max-client-batch-size bounds them. */
    private readonly maxLabels: number,
  ) {}

  async classify(request: ClassifyRequest): Promise<LabelScore[][]> {
    const { labels, hypothesisTemplate } = request;
    if (labels.length === 0) throw validation('`labels` cannot be empty: give the candidate labels', 'labels');
    if (labels.length > this.maxLabels)
      throw overLimit(`\`labels\` must have at most ${this.maxLabels} elements (--max-client-batch-size). Given: ${labels.length}`, 'labels');
    if (new Set(labels).size !== labels.length) throw validation('`labels` has duplicates', 'labels');
    if (hypothesisTemplate !== undefined && !hypothesisTemplate.includes('{}')) {
      throw validation('`hypothesis_template` must contain {} where the label goes', 'hypothesis_template');
    }
    const texts = hypothesisTemplate === undefined ? labels : labels.map((l) => hypothesisTemplate.split('{}').join(l));
    // The two towers batch apart, so their halves run side by side.
    const [image, text] = await Promise.all([
      this.images.embed({ inputs: request.inputs, normalize: true, signal: request.signal, deadline: request.deadline }),
      this.texts.embed({ inputs: texts, normalize: true, truncate: true, signal: request.signal, deadline: request.deadline }),
    ]);
    return scoreLabels(image.vectors, text.vectors, labels, this.scoring);
  }
}
