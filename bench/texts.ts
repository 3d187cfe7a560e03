/**
 * The benchmark workload: deterministic English sentences of mixed lengths, grouped into requests
 * the way embedding clients send them (mostly one text, sometimes a small batch). Every process
 * of a run (load generator, anchors) rebuilds the same workload from the same seed, so the
 * numbers compare the same texts.
 */

/** mulberry32: small, fast, and the same sequence on every platform. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SUBJECTS = [
  'The new policy',
  'Our support team',
  'A small startup in Berlin',
  'The city council',
  'Most customers',
  'My neighbour',
  'The research group',
  'This laptop',
  'The quarterly report',
  'Her latest novel',
  'The train to Lyon',
  'A local bakery',
  'The football club',
  'Several volunteers',
  'The hospital',
  'Our database migration',
  'The school board',
  'The weather service',
  'An old friend of mine',
  'The museum',
  'The delivery driver',
  'Our product manager',
  'The recipe',
  'The central bank',
];
const VERBS = [
  'announced',
  'reviewed',
  'improved',
  'postponed',
  'described',
  'rejected',
  'approved',
  'recommended',
  'criticised',
  'explained',
  'delayed',
  'finished',
  'doubled',
  'replaced',
  'questioned',
  'published',
  'ignored',
  'supported',
  'tested',
  'cancelled',
];
const OBJECTS = [
  'the budget for next year',
  'a proposal for cheaper housing',
  'the opening hours',
  'a faster checkout process',
  'the results of the survey',
  'an update to the mobile app',
  'the plans for a new bridge',
  'its pricing model',
  'the safety guidelines',
  'a partnership with two universities',
  'the schedule for the summer',
  'the old heating system',
  'a list of frequently asked questions',
  'the interest rate',
  'the final chapter',
  'a vegetarian menu',
  'the login page',
  'the contract with the supplier',
  'the exhibition on ancient Rome',
  'the training programme for new staff',
];
const MODIFIERS = [
  'after a long debate',
  'on Tuesday morning',
  'despite the heavy rain',
  'without much warning',
  'for the third time this year',
  'in front of a large audience',
  'during the annual meeting',
  'with the help of local experts',
  'earlier than expected',
  'in a short statement',
  'at the request of several residents',
  'before the holidays',
  'to the surprise of many observers',
  'after months of careful planning',
  'in the northern districts',
  'with remarkable speed',
];
const CONNECTORS = ['because', 'although', 'while', 'and', 'but', 'so', 'since', 'even though'];
const QUESTIONS = [
  'How do I reset my password on the mobile app?',
  'What time does the pharmacy close on Sundays?',
  'best hiking trails near Innsbruck',
  'Is it safe to drink tap water in Lisbon?',
  'cheap flights from Madrid to Oslo in March',
  'How long should I boil an egg?',
  'symptoms of vitamin D deficiency',
  'Why is the sky blue during the day?',
  'How can I export my calendar to a spreadsheet?',
  'recommended tyre pressure for a family car',
  'Who wrote the Odyssey?',
  'difference between a virus and a bacterium',
  'how to fix a leaking kitchen tap',
  'What is the capital of Australia?',
  'vegan lasagne recipe without tofu',
  'When does the new tax year start?',
  'train timetable Vienna to Salzburg',
  'Can I return an item without a receipt?',
  'how to improve sleep quality naturally',
  'used bicycles for sale in Utrecht',
];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)];
}

function clause(r: () => number, modifiers: number): string {
  const parts = [pick(r, SUBJECTS), pick(r, VERBS), pick(r, OBJECTS)];
  for (let i = 0; i < modifiers; i++) parts.push(pick(r, MODIFIERS));
  return parts.join(' ');
}

/**
 * One text: a search-style query (short), a sentence (medium) or two or three joined clauses
 * (long). Lengths span about 4 to 55 words (~6 to 70 BERT tokens), like a mixed retrieval load.
 */
export function sentence(r: () => number): string {
  const kind = r();
  if (kind < 0.3) return pick(r, QUESTIONS);
  if (kind < 0.75) {
    const s = clause(r, Math.floor(r() * 3));
    return s[0].toUpperCase() + s.slice(1) + '.';
  }
  const clauses = 2 + Math.floor(r() * 2);
  let s = clause(r, Math.floor(r() * 2));
  for (let i = 1; i < clauses; i++) {
    const next = clause(r, Math.floor(r() * 2));
    s += `, ${pick(r, CONNECTORS)} ${next[0].toLowerCase()}${next.slice(1)}`;
  }
  return s + '.';
}

export interface Workload {
  /** Texts of each request, in the order clients send them. */
  requests: string[][];
  seed: number;
}

export interface WorkloadOptions {
  seed?: number;
  requests?: number;
  /** Share of requests with one text; the rest carry 2..maxTexts texts, uniformly. */
  singleShare?: number;
  maxTexts?: number;
}

export function makeWorkload(options: WorkloadOptions = {}): Workload {
  const seed = options.seed ?? 20240611;
  const count = options.requests ?? 4000;
  const singleShare = options.singleShare ?? 0.7;
  const maxTexts = options.maxTexts ?? 8;
  const r = rng(seed);
  const requests: string[][] = [];
  for (let i = 0; i < count; i++) {
    const n = r() < singleShare ? 1 : 2 + Math.floor(r() * (maxTexts - 1));
    const texts: string[] = [];
    for (let j = 0; j < n; j++) texts.push(sentence(r));
    requests.push(texts);
  }
  return { requests, seed };
}

/** Every text of the workload, request after request: what one full pass sends. */
export function allTexts(workload: Workload): string[] {
  return workload.requests.flat();
}
