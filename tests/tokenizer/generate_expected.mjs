// Generates the expected results of the differential test with transformers.js, the reference
// implementation (docs/spec/qwen3_tokenizer.md):
//   expected.jsonl           per corpus.jsonl line: {"ids": [...]} plus, where they differ from
//                            those, "plain_ids" (added-token text encoded as plain text) and
//                            "nfc" (the text's NFC form, what decode(encode(text)) must give)
//   expected_segments.jsonl  per segments.jsonl line: {"ids": [...]}
//   decode.jsonl             {"ids": [...], "text": ...}: the reference's decode of id slices
//
//   scripts/fetch_tokenizer.sh && npm install --ignore-scripts && node generate_expected.mjs [models-dir]
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoTokenizer, env } from '@huggingface/transformers';

const here = path.dirname(fileURLToPath(import.meta.url));
const modelsDir = path.resolve(process.argv[2] ?? path.join(here, '../../third_party/qwen3-tokenizer/models'));

// Loaded from local folders only, as the spec prescribes.
env.allowRemoteModels = false;
async function loadTokenizer(dir) {
  env.localModelPath = path.dirname(dir);
  return AutoTokenizer.from_pretrained(path.basename(dir));
}
const tokenizer = await loadTokenizer(modelsDir);

// The reference has no switch for "added tokens as plain text"; the same tokenizer.json without its
// added_tokens list is exactly that.
const plainDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'qwen3-plain-')), 'models');
{
  const json = JSON.parse(readFileSync(path.join(modelsDir, 'tokenizer.json'), 'utf8'));
  json.added_tokens = [];
  mkdirSync(plainDir);
  writeFileSync(path.join(plainDir, 'tokenizer.json'), JSON.stringify(json));
  copyFileSync(path.join(modelsDir, 'tokenizer_config.json'), path.join(plainDir, 'tokenizer_config.json'));
}
const plainTokenizer = await loadTokenizer(plainDir);
rmSync(path.dirname(plainDir), { recursive: true });

const encode = (tok, text) => tok.encode(text, { add_special_tokens: false });
const sameIds = (a, b) => a.length === b.length && a.every((id, i) => id === b[i]);
const readJsonl = (name) =>
  readFileSync(path.join(here, name), 'utf8').split('\n').filter((line) => line.length > 0).map((line) => JSON.parse(line));

// Corpus.
const corpus = readJsonl('corpus.jsonl');
const expected = corpus.map(({ text }) => {
  const entry = { ids: encode(tokenizer, text) };
  const plainIds = encode(plainTokenizer, text);
  if (!sameIds(plainIds, entry.ids)) entry.plain_ids = plainIds;
  const nfc = text.normalize('NFC');
  if (nfc !== text) entry.nfc = nfc;
  return entry;
});
writeFileSync(path.join(here, 'expected.jsonl'), expected.map((e) => JSON.stringify(e)).join('\n') + '\n');

// Segments: added tokens are found with the reference's own splitter, inside "match" segments
// only; the text between found tokens is encoded as one stretch without added-token matching.
function encodeSegments(segments) {
  const ids = [];
  let stretch = '';
  const flush = () => {
    if (stretch.length > 0) ids.push(...encode(plainTokenizer, stretch));
    stretch = '';
  };
  for (const { text, special } of segments) {
    if (special === 'plain') {
      stretch += text;
      continue;
    }
    for (const section of tokenizer.added_tokens_splitter.split(text)) {
      const token = tokenizer.added_tokens_map.get(section);
      if (token) {
        flush();
        ids.push(token.id);
      } else {
        stretch += section;
      }
    }
  }
  flush();
  return ids;
}
const segmentCases = readJsonl('segments.jsonl');
writeFileSync(path.join(here, 'expected_segments.jsonl'),
  segmentCases.map(({ segments }) => JSON.stringify({ ids: encodeSegments(segments) })).join('\n') + '\n');

// Decode: non-empty slices of the corpus' ids (cutting multi-byte characters apart) and random id lists.
let state = 12345;
const random = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 4294967296;
};
const decodeCases = [];
for (let i = 0; i < corpus.length; i += 7) {
  const ids = expected[i].ids;
  const begin = Math.floor(random() * ids.length);
  const end = begin + 1 + Math.floor(random() * (ids.length - begin));
  decodeCases.push(ids.slice(begin, end));  // the reference rejects an empty list
}
const vocabSize = tokenizer.model.vocab.length;
for (let i = 0; i < 200; ++i) {
  const ids = [];
  const length = 1 + Math.floor(random() * 12);
  for (let j = 0; j < length; ++j) ids.push(Math.floor(random() * vocabSize));
  decodeCases.push(ids);
}
writeFileSync(path.join(here, 'decode.jsonl'), decodeCases
  .map((ids) => JSON.stringify({ ids, text: tokenizer.decode(ids, { skip_special_tokens: false }) })).join('\n') + '\n');

console.log(`expected ids for ${corpus.length} texts, ${segmentCases.length} segment cases, ${decodeCases.length} decode cases` +
  ` (transformers.js ${env.version},` +
  ` vocabulary ${vocabSize}, Unicode ${process.versions.unicode})`);
