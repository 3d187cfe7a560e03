import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longestFirst } from '../../src/preprocess/tokenizer.js';

test('longestFirst cuts pairs as Hugging Face tokenizers LongestFirst does', () => {
  // [first, second, room] -> kept, worked from tokenizers' utils/truncation.rs.
  const cases: [number, number, number, [number, number]][] = [
    [2, 2, 8, [2, 2]], // fits
    [3, 10, 8, [3, 5]], // the short query stays whole
    [10, 3, 8, [5, 3]],
    [10, 10, 8, [4, 4]], // both long: half each
    [10, 10, 9, [4, 5]], // the odd token goes to the second
    [12, 6, 9, [5, 4]], // the shorter one is over half as well: the longer one keeps the odd token
  ];
  for (const [a, b, room, kept] of cases) assert.deepEqual(longestFirst(a, b, room), kept, `${a}, ${b} in ${room}`);
});
