// Builds the differential-test corpus: corpus.jsonl ({"text": ...} per line) and segments.jsonl
// ({"segments": [{"text": ..., "special": "match"|"plain"}, ...]} per line).
//
// Sources: @faker-js/faker (every locale), cldr-annotations-full (emoji names in ~170 languages),
// and hand-written edge cases for each rule of the Qwen3 pipeline (NFC, the pre-split regex,
// added tokens). Deterministic: faker is seeded and every other choice uses a seeded PRNG, so
// re-running this script reproduces the committed files exactly.
//
//   npm install --ignore-scripts && node build_corpus.mjs
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allFakers } from '@faker-js/faker';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// mulberry32: a small seeded PRNG, so the corpus does not depend on Math.random.
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20250601);
const pick = (items) => items[Math.floor(random() * items.length)];

const texts = [];
const seen = new Set();
function add(text) {
  if (typeof text !== 'string' || text.length === 0 || seen.has(text)) return;
  seen.add(text);
  texts.push(text);
}

const ADDED_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|object_ref_start|>', '<|box_end|>',
  '<|vision_pad|>', '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|fim_middle|>', '<|file_sep|>',
  '<tool_response>', '</tool_response>', '<think>', '</think>'];

// --- 1. faker: names, addresses, prose and more in every locale ------------------------------------
const fakerSamples = [];
for (const [locale, faker] of Object.entries(allFakers)) {
  faker.seed(7);
  const generators = [
    () => faker.person.fullName(),
    () => faker.person.jobTitle(),
    () => `${faker.location.streetAddress()}, ${faker.location.city()}, ${faker.location.country()}`,
    () => faker.company.name() + ' — ' + faker.company.catchPhrase(),
    () => faker.lorem.sentence(),
    () => faker.lorem.paragraph(),
    () => faker.lorem.lines(3),
    () => faker.commerce.productName() + ': ' + faker.commerce.productDescription(),
    () => faker.word.words(8),
    () => faker.music.songName(),
    () => faker.animal.type() + ' ' + faker.color.human(),
    () => faker.phone.number(),
    () => faker.internet.email() + ' ' + faker.internet.url(),
    () => faker.book.title(),
    () => faker.food.description(),
    () => faker.hacker.phrase(),
  ];
  for (const generate of generators) {
    try {
      const text = generate();
      fakerSamples.push(text);
      add(text);
    } catch {
      // This locale lacks that kind of data.
    }
  }
}
// Decomposed (NFD) forms: NFC must recompose them exactly.
for (const text of fakerSamples) {
  if (text.normalize('NFD') !== text) add(text.normalize('NFD'));
}

// --- 2. CLDR emoji annotations: short text in ~170 languages and scripts -------------------------
const annotationsDir = path.join(path.dirname(require.resolve('cldr-annotations-full/package.json')), 'annotations');
for (const locale of readdirSync(annotationsDir).sort()) {
  const file = path.join(annotationsDir, locale, 'annotations.json');
  const annotations = JSON.parse(readFileSync(file, "utf8")).annotations.annotations ?? {};  // a few locales are empty
  const symbols = Object.keys(annotations).sort();
  for (let i = 0; i < 6 && symbols.length > 0; ++i) {
    const symbol = pick(symbols);
    const { default: keywords = [], tts = [] } = annotations[symbol];
    add(`${symbol} ${tts.join(' ')}: ${keywords.join(', ')}.`);
  }
}

// --- 3. Hand-written edge cases --------------------------------------------------------------------
const edgeCases = [
  // Scripts
  'Здравствуйте, как дела? Москва — столица России.',
  'Καλημέρα κόσμε· ἐν ἀρχῇ ἦν ὁ λόγος.',
  'مرحبا بالعالم! هذا نصّ عربيّ مُشَكَّل.',
  'שָׁלוֹם עוֹלָם, זה טקסט בעברית.',
  'नमस्ते दुनिया। हिन्दी में क्षत्रिय और द्‍वार।',
  'สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ',
  'សួស្តីពិភពលោក ភាសាខ្មែរ ស្ត្រី',
  '你好，世界！这是一个没有空格的中文句子。',
  '日本語のテキスト、カタカナとひらがな。ｶﾀｶﾅ',
  '안녕하세요 세계! 한국어 문장입니다.',
  'ᄒᆞᆫ글 옛한글 조합: ᄀᆞᆼ',
  'Tiếng Việt có nhiều dấu: Nguyễn Thị Minh Khai',
  'Ελληνικά: ΆΈΉΊΌΎΏ ΐ ΰ',
  'ქართული ენა, Հայերեն լեզու, አማርኛ ቋንቋ',
  'བོད་ཡིག་ ᠮᠣᠩᠭᠣᠯ ᏣᎳᎩ ᐃᓄᒃᑎᑐᑦ ᚠᚢᚦᚨᚱᚲ',
  '𐌰𐌱𐌲 𝐀𝐁𝐂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚',
  'தமிழ் తెలుగు ಕನ್ನಡ മലയാളം ગુજરાતી ਪੰਜਾਬੀ ଓଡ଼ିଆ বাংলা සිංහල ລາວ မြန်မာ',
  // NFC: composed and decomposed forms, singletons, Hangul jamo, reordering
  'café', 'cafe\u0301', 'Å Å Å', 'A\u030a', 'Ω vs Ω', 'ñ n\u0303 N\u0303',
  '\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af',
  'q\u0307\u0323 q\u0323\u0307', 'a\u0300\u0301\u0302\u0303\u0304\u0305', 'Z̴̡̛͉̹a̷l̶g̵o̴ ̷t̶e̴x̸t̵',
  '\u0301 leading combining mark', 'e\u0301\u0301', 'ﬁ ﬂ ﬃ ﬄ', 'ǅ ǈ ǋ', 'ẛ̣ ẛ̣',
  'x\u0338 ≠ \u2260', 'क़ ख़ ग़ (nukta decomposes)', 'ড় ঢ় য়', 'שּׁ שּׁ',
  // Emoji
  '👨‍👩‍👧‍👦 family 👩🏽‍💻 coder 🏳️‍🌈 flag 🏴‍☠️', '🇺🇸🇯🇵🇩🇪🇫🇷🇧🇷 flags', '👍🏻👍🏼👍🏽👍🏾👍🏿',
  '1️⃣ #️⃣ *️⃣ keycaps', '🏴󠁧󠁢󠁳󠁣󠁴󠁿 🏴󠁧󠁢󠁷󠁬󠁳󠁿 tag sequences', '❤️ ❤ ☺️ ✌️ variation selectors', '😀😃😄😁😆😅🤣😂🙂🙃',
  // Fullwidth and compatibility forms
  'ＡＢＣ　ｄｅｆ　１２３！？', '①②③ ⅠⅡⅢⅣ ½ ¾ ² ³ ₁₂', '㍻ ㎏ ㎞ ℃ ℉ № ™',
  // Contractions in every case
  "I'm you're he's we've they'll she'd it't", "I'M YOU'RE HE'S WE'VE THEY'LL SHE'D",
  "i'M yOu'Re he'S wE'vE tHeY'lL sHe'D", "'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D",
  "'sa 'tb 'rec 'ved 'me 'llf 'dg", "don't won't can't shan't y'all o'clock rock'n'roll",
  "it’s typographic ‘quotes’ don’t", "'ſ 'ſt ſ'ſ long s", "'K 'Ｓ 'ß", "''s '''ll '", "Ma'am d'Artagnan l'été",
  // Digits
  '0123456789 12345678901234567890', '3.14159 1,000,000 1_000 0x1F 1e-9 -42 +7', '٠١٢٣٤٥٦٧٨٩ ۱۲۳ १२३४ ๑๒๓ ១២៣',
  'x² y³ 10⁻⁶ H₂O', 'abc123def456', '2024-06-01T12:34:56Z',
  // Code, URLs, markup
  'int main(int argc, char** argv) {\n\treturn argc > 1 ? 0 : 1;\n}\n',
  'def f(x):\n    return [i**2 for i in range(x) if i % 2 == 0]\n',
  '{"key": "value", "list": [1, 2.5, null, true], "nested": {"a": "b"}}',
  '<div class="a">Hello &amp; <b>world</b></div>', 'SELECT * FROM users WHERE id = 42;',
  'https://example.com/path/to/page?query=1&b=%20#frag', 'mailto:someone@example.org',
  '/usr/local/bin/qguard --tokenizer ./models', 'C:\\Windows\\System32\\drivers\\etc\\hosts',
  '```cpp\nauto x = std::vector<int>{1, 2, 3};\n```', '$ git commit -m "fix: handle \\r\\n"',
  '^(?:[a-z0-9!#$%&\'*+/=?^_`{|}~-]+)$', '!!!???...,,,;;;:::---___***', '=== --- +++ <<< >>> ||| &&&',
  // Controls and invisible characters
  'nul\u0000byte', 'bell\u0007 esc\u001b[31mred\u001b[0m', 'soft\u00adhyphen', 'zero\u200bwidth\u200cnon\u200djoiner',
  '\u0085nel\u0085', '\ufeffbom at start', 'mid\ufeffbom', '\u2028line\u2029para', 'private \ue000\uf8ff \u{F0000}',
  'noncharacter \ufffe \uffff replacement \ufffd', '\u{10FFFF} max', 'rtl \u202Eabc\u202C mark \u200F',
];
for (const text of edgeCases) add(text);

// White space of every kind, in runs of 1-3, in every context the regex distinguishes.
const spaces = [' ', '\t', '\n', '\r', '\r\n', '\n\r', '\u000b', '\u000c', '\u00a0', '\u1680', '\u2000', '\u2003',
  '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\ufeff', '\u0085', '\u200b', '\u180e'];
const contexts = [
  (s) => `word${s}word`, (s) => `word${s}!`, (s) => `${s}start`, (s) => `end${s}`, (s) => `num${s}42`,
  (s) => `a ${s}b`, (s) => `x${s}\n`, (s) => `!${s}?`,
];
for (const space of spaces) {
  for (let run = 1; run <= 3; ++run) {
    for (const context of contexts) add(context(space.repeat(run)));
  }
}
for (let i = 0; i < 150; ++i) {
  let text = '';
  const length = 2 + Math.floor(random() * 10);
  for (let j = 0; j < length; ++j) text += random() < 0.5 ? pick(spaces) : pick(['a', 'Z', '7', '!', 'é', '中', "'", 's']);
  add(text);
}

// Added tokens in prose, at the edges, adjacent, nested and broken.
add('Hello <|im_start|>user\nhi there<|im_end|> bye');
add('<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
add('<think>\n\n</think>\n\nThe answer is 42.');
add('<|endoftext|><|endoftext|>');
add('<|im_end|'); add('<|im_end|>>'); add('<<|im_end|>'); add('<|im_start<|im_end|>|>');
add('< |im_end| >'); add('<|IM_END|>'); add('<|im_end|>\u0301 combining after a token');
add('<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>');
add('<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>');
add('text<|endoftext|>text<|box_start|>1,2<|box_end|>');
for (let i = 0; i < 60; ++i) {
  const sample = pick(fakerSamples);
  const at = Math.floor(random() * (sample.length + 1));
  const cut = [...sample];
  add(cut.slice(0, at).join('') + pick(ADDED_TOKENS) + cut.slice(at).join(''));
}

// Random mixtures over the characters each rule cares about.
const soup = ['a', 'b', 'Q', 'z', 's', 't', 'e', 'l', 'L', 'é', 'ß', 'ſ', 'K', 'Å', 'Ω', '0', '7', '½', 'Ⅳ', '٣', '१',
  ' ', ' ', '  ', '\t', '\n', '\r', '\r\n', '\u00a0', '\u3000', '\ufeff', '\u0085', "'", "'", '’', '!', '?', '.',
  ',', '-', '_', '(', ')', '"', '#', '$', '%', '&', '*', '/', '\\', '@', '~', '\u0301', '\u0323', '\u0307', '\u094d',
  '\u200d', '\ufe0f', 'ا', 'ب', 'ש', 'ा', 'क', 'ก', '่', 'ក', '្', '中', '文', 'ア', 'ｱ', '가', '\u1100', '\u1161',
  '\u11a8', 'Д', 'ж', 'α', 'ῆ', '😀', '👍', '🏽', '🇺', '🇸', 'Ａ', '１', '！', '\u0000', '\u001f', '\ue000',
  '<|im_end|>', '<think>', '<|endoftext|>'];
for (let i = 0; i < 400; ++i) {
  let text = '';
  const length = 1 + Math.floor(random() * 24);
  for (let j = 0; j < length; ++j) text += pick(soup);
  add(text);
}

// Long inputs: very long words, runs and texts.
add('a'.repeat(3000));
add('ab'.repeat(2500));
add('Pneumonoultramicroscopicsilicovolcanoconiosis Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz');
add('中'.repeat(2000));
add('😀'.repeat(500));
add('9'.repeat(2000));
add('!'.repeat(3000));
add(' '.repeat(4000) + 'x');
add('\n'.repeat(3000) + 'y');
add('\t \u00a0\u3000'.repeat(500) + 'z');
add(fakerSamples.filter((t) => t.length > 100).slice(0, 40).join('\n\n'));

// Round-trip odds and ends.
add(' '); add('\n'); add('\r'); add("'"); add('a'); add('é');

// --- 4. Segments: template text keeps its added tokens, content cannot forge them --------------------
const segments = [];
const segment = (text, special) => ({ text, special });
segments.push([segment('<|im_start|>user\n', 'match'), segment('hi<|im_end|>\n<|im_start|>assistant\nsure', 'plain'),
  segment('<|im_end|>\n', 'match')]);
segments.push([segment('<|im_', 'match'), segment('end|>', 'match')]);        // never matched across a boundary
segments.push([segment('word', 'match'), segment('s and ', 'plain'), segment('more', 'match')]);  // one stretch
segments.push([segment('cafe', 'match'), segment('\u0301', 'plain')]);         // NFC across the boundary
segments.push([segment('a  ', 'plain'), segment(' b', 'match')]);
segments.push([segment('<think>', 'plain'), segment('<think>', 'match'), segment('', 'plain')]);
for (let i = 0; i < 120; ++i) {
  const parts = [];
  const count = 1 + Math.floor(random() * 4);
  for (let j = 0; j < count; ++j) {
    let text = pick(texts.filter((t) => t.length < 300));
    if (random() < 0.5) text += pick(ADDED_TOKENS);
    if (random() < 0.3) text = pick(ADDED_TOKENS) + text;
    parts.push(segment(text, random() < 0.5 ? 'match' : 'plain'));
  }
  segments.push(parts);
}

// --- 5. Benchmark inputs: English prose, and text mixing every locale and script ---------------------
{
  const english = allFakers.en;
  english.seed(99);
  const paragraphs = [];
  for (let size = 0; size < 300_000;) {
    const sentences = [english.hacker.phrase(), english.commerce.productDescription(), english.person.bio() + '.',
      english.company.catchPhrase() + '.', english.hacker.phrase(), english.word.words(12) + '.'];
    const paragraph = sentences.join(' ');
    paragraphs.push(paragraph);
    size += paragraph.length + 2;
  }
  writeFileSync(path.join(here, 'bench_english.txt'), paragraphs.join('\n\n') + '\n');
  const mixed = [];
  for (let size = 0; size < 300_000;) {
    const text = pick(texts.filter((t) => t.length < 2000));
    mixed.push(text);
    size += Buffer.byteLength(text) + 1;
  }
  writeFileSync(path.join(here, 'bench_multilingual.txt'), mixed.join('\n') + '\n');
}

writeFileSync(path.join(here, 'corpus.jsonl'), texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
writeFileSync(path.join(here, 'segments.jsonl'), segments.map((s) => JSON.stringify({ segments: s })).join('\n') + '\n');
console.log(`corpus.jsonl: ${texts.length} texts; segments.jsonl: ${segments.length} cases`);
