#include "qguard/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include "hub/hub.hpp"
#include "io/gguf.hpp"
#include "io/mapped_file.hpp"
#include "qguard/error.hpp"
#include "text/bpe.hpp"
#include "text/byte_level.hpp"
#include "text/hash.hpp"
#include "text/piece_cache.hpp"
#include "text/pre_split.hpp"
#include "text/tokenizer_source.hpp"
#include "text/unicode.hpp"
#include "text/vocabulary.hpp"
#include "util/json.hpp"

namespace qguard {
namespace {

// Bounds on what a tokenizer.json may ask for, checked before its contents are parsed or stored:
// Qwen3's is 11 MB with 26 added tokens. Each added token is tried at every position of the text
// that starts like one, so their number bounds encode's work too.
constexpr std::size_t kMaxTokenizerJsonBytes = std::size_t{64} << 20;
constexpr std::size_t kMaxAddedTokens = 1024;

// The pre-tokenizer regex of Qwen3's tokenizer.json; text/pre_split.hpp implements exactly this one.
constexpr std::string_view kQwen3SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Typed access to tokenizer.json: every missing field or wrong type is an Error(kMalformedJson)
// naming the file and the field.
class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(std::string_view what) const {
    throw Error(ErrorCode::kMalformedJson, fmt::format("'{}': {}", file_, what));
  }
  [[noreturn]] void unsupported(std::string_view what) const {
    throw Error(ErrorCode::kUnsupportedModel,
                fmt::format("'{}': {}; qguard implements the Qwen3 tokenizer pipeline only", file_, what));
  }

  simdjson::dom::element field(simdjson::dom::element parent, std::string_view key) const {
    simdjson::dom::element value;
    if (parent.at_key(key).get(value) != simdjson::SUCCESS) fail(fmt::format("missing field \"{}\"", key));
    return value;
  }
  simdjson::dom::array array(simdjson::dom::element parent, std::string_view key) const {
    simdjson::dom::array value;
    if (field(parent, key).get(value) != simdjson::SUCCESS) fail(fmt::format("\"{}\" must be an array", key));
    return value;
  }
  std::string_view string(simdjson::dom::element parent, std::string_view key) const {
    std::string_view value;
    if (field(parent, key).get(value) != simdjson::SUCCESS) fail(fmt::format("\"{}\" must be a string", key));
    return value;
  }
  // An id: an integer in [0, limit).
  std::int32_t id(simdjson::dom::element value, std::size_t limit, std::string_view what) const {
    std::int64_t number = -1;
    if (value.get(number) != simdjson::SUCCESS || number < 0 || static_cast<std::uint64_t>(number) >= limit) {
      fail(fmt::format("{} must be an integer id in [0, {})", what, limit));
    }
    return static_cast<std::int32_t>(number);
  }
  // An optional flag: absent or null reads as false.
  bool flag(simdjson::dom::element parent, std::string_view key) const {
    simdjson::dom::element value;
    if (parent.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return false;
    bool flag = false;
    if (value.get(flag) != simdjson::SUCCESS) fail(fmt::format("\"{}\" must be a boolean", key));
    return flag;
  }
  // An optional string that must be absent, null or empty.
  void require_empty(simdjson::dom::element parent, std::string_view key) const {
    simdjson::dom::element value;
    if (parent.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return;
    std::string_view text;
    if (value.get(text) != simdjson::SUCCESS || !text.empty()) unsupported(fmt::format("model \"{}\" is set", key));
  }

 private:
  std::string file_;
};

std::filesystem::path tokenizer_json_path(const std::string& path_or_dir) {
  std::filesystem::path path = path_or_dir;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) path /= "tokenizer.json";
  if (!std::filesystem::is_regular_file(path, error)) {
    throw Error(ErrorCode::kNotFound, fmt::format("no tokenizer.json at '{}'", path.string()));
  }
  return path;
}

// Rejects every tokenizer.json whose normalizer, pre-tokenizer, decoder or model options differ
// from Qwen3's, since the code implements exactly that pipeline.
void check_pipeline(const JsonReader& json, simdjson::dom::element root, simdjson::dom::element model) {
  if (json.string(model, "type") != "BPE") json.unsupported("model.type is not BPE");
  if (json.flag(model, "byte_fallback")) json.unsupported("model.byte_fallback is true");
  if (json.flag(model, "ignore_merges")) json.unsupported("model.ignore_merges is true");
  json.require_empty(model, "continuing_subword_prefix");
  json.require_empty(model, "end_of_word_suffix");

  const auto normalizer = json.field(root, "normalizer");
  if (!normalizer.is_object() || json.string(normalizer, "type") != "NFC") json.unsupported("the normalizer is not NFC");

  const auto pre_tokenizer = json.field(root, "pre_tokenizer");
  if (!pre_tokenizer.is_object() || json.string(pre_tokenizer, "type") != "Sequence") {
    json.unsupported("the pre-tokenizer is not a Sequence");
  }
  std::vector<simdjson::dom::element> steps;
  for (const auto step : json.array(pre_tokenizer, "pretokenizers")) steps.push_back(step);
  if (steps.size() != 2 || !steps[0].is_object() || !steps[1].is_object()) {
    json.unsupported("the pre-tokenizer is not Sequence[Split, ByteLevel]");
  }
  const auto split = steps[0];
  const auto byte_level = steps[1];
  if (json.string(split, "type") != "Split" || json.string(json.field(split, "pattern"), "Regex") != kQwen3SplitRegex ||
      json.string(split, "behavior") != "Isolated" || json.flag(split, "invert")) {
    json.unsupported("the pre-tokenizer's Split is not Qwen3's regex with behavior Isolated");
  }
  if (json.string(byte_level, "type") != "ByteLevel" || json.flag(byte_level, "use_regex") ||
      json.flag(byte_level, "add_prefix_space")) {
    json.unsupported("the pre-tokenizer's second step is not ByteLevel without regex or prefix space");
  }

  const auto decoder = json.field(root, "decoder");
  if (!decoder.is_object() || json.string(decoder, "type") != "ByteLevel") json.unsupported("the decoder is not ByteLevel");
}

// tokenizer.json read in one streaming pass: its two big lists (model.vocab, model.merges) as
// views into the document (or into simdjson's buffer, for strings with escapes), and everything
// else re-assembled as a small JSON document for the DOM API. Loading is memory-bound; a full DOM
// of the 11 MB file would take about twice as long.
struct StreamedJson {
  std::string rest;  // {"added_tokens": ..., "normalizer": ..., ..., "model": {all but vocab and merges}}
  std::vector<text::TokenEntry> tokens;  // model.vocab; the added tokens join later
  std::vector<std::string_view> merge_lefts;
  std::vector<std::string_view> merge_rights;
  bool has_vocab = false;
  bool has_merges = false;
};

std::string_view raw_json_of(simdjson::ondemand::value value) {
  switch (value.type()) {
    case simdjson::ondemand::json_type::object: return simdjson::ondemand::object(value.get_object()).raw_json();
    case simdjson::ondemand::json_type::array: return simdjson::ondemand::array(value.get_array()).raw_json();
    default: return value.raw_json_token();
  }
}

void append_field(std::string& object_text, std::string_view key, std::string_view raw_value) {
  if (object_text.back() != '{') object_text += ',';
  util::append_json_string(object_text, key);
  object_text += ':';
  object_text += raw_value;
}

// The text of a JSON string value. Token texts rarely hold escapes, and those without any are
// taken in place, sparing simdjson's copy into its string buffer.
std::string_view string_text(simdjson::ondemand::value value) {
  const std::string_view token = value.raw_json_token();
  const std::size_t close = token.rfind('"');
  if (token.size() >= 2 && token.front() == '"' && close > 0) {
    const std::string_view inner = token.substr(1, close - 1);
    if (inner.find('\\') == std::string_view::npos) return inner;
  }
  return value.get_string();
}

std::string_view key_text(simdjson::ondemand::field& field, const char* document_end) {
  const char* begin = field.key().raw();
  const auto* close = static_cast<const char*>(std::memchr(begin, '"', static_cast<std::size_t>(document_end - begin)));
  if (close != nullptr && std::memchr(begin, '\\', static_cast<std::size_t>(close - begin)) == nullptr) {
    return std::string_view(begin, static_cast<std::size_t>(close - begin));
  }
  return field.unescaped_key();
}

// One merge: "left right" (one space) or ["left", "right"].
std::pair<std::string_view, std::string_view> read_merge(const JsonReader& json, simdjson::ondemand::value merge,
                                                         std::size_t rank) {
  if (merge.type() == simdjson::ondemand::json_type::string) {
    const std::string_view line = string_text(merge);
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      json.fail(fmt::format("merge {} is not two tokens separated by one space", rank));
    }
    return {line.substr(0, space), line.substr(space + 1)};
  }
  const auto not_a_pair = [&] { json.fail(fmt::format("merge {} is neither a string nor a pair of strings", rank)); };
  if (merge.type() != simdjson::ondemand::json_type::array) not_a_pair();
  std::array<std::string_view, 2> parts;
  std::size_t count = 0;
  for (auto part : merge.get_array()) {
    if (part.type() != simdjson::ondemand::json_type::string || count == parts.size()) not_a_pair();
    parts[count++] = string_text(part.value());
  }
  if (count != parts.size()) not_a_pair();
  return {parts[0], parts[1]};
}

// simdjson reads up to SIMDJSON_PADDING bytes past the end of the text. A file mapping is readable
// up to the end of its last page (zeros past the end of the file), so the mapped bytes can be
// parsed in place when that page has room; otherwise they are copied into `copy`.
simdjson::padded_string_view padded_view(const io::MappedFile& file, simdjson::padded_string& copy) {
  const auto page_size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t room = (page_size - file.size() % page_size) % page_size;
  const char* bytes = reinterpret_cast<const char*>(file.data());
  if (file.size() > 0 && room >= simdjson::SIMDJSON_PADDING) {
    return simdjson::padded_string_view(bytes, file.size(), file.size() + simdjson::SIMDJSON_PADDING);
  }
  copy = simdjson::padded_string(bytes, file.size());
  return copy;
}

StreamedJson stream_tokenizer_json(const JsonReader& json, simdjson::ondemand::parser& parser,
                                   simdjson::padded_string_view contents) {
  StreamedJson streamed;
  streamed.rest.push_back('{');
  try {
    simdjson::ondemand::document document = parser.iterate(contents);
    for (auto field : document.get_object()) {
      const std::string_view key = field.unescaped_key();
      if (key != "model") {
        append_field(streamed.rest, key, raw_json_of(field.value()));
        continue;
      }
      std::string model_rest = "{";
      for (auto model_field : field.value().get_object()) {
        const std::string_view model_key = model_field.unescaped_key();
        if (model_key == "vocab") {
          streamed.has_vocab = true;
          simdjson::ondemand::object vocab = model_field.value().get_object();
          // Room for the added tokens too, so that appending them does not copy the vocabulary.
          streamed.tokens.reserve(vocab.count_fields() + kMaxAddedTokens);
          for (auto entry_or_error : vocab) {
            if (entry_or_error.error()) throw simdjson::simdjson_error(entry_or_error.error());
            simdjson::ondemand::field& entry = entry_or_error.value_unsafe();
            const std::string_view token_text = key_text(entry, contents.data() + contents.size());
            const std::int64_t id = entry.value().get_int64();
            if (id < 0 || id >= INT32_MAX) json.fail(fmt::format("model.vocab id {} of \"{}\" is out of range", id, token_text));
            streamed.tokens.push_back({token_text, static_cast<std::int32_t>(id), false});
          }
        } else if (model_key == "merges") {
          streamed.has_merges = true;
          simdjson::ondemand::array merges = model_field.value().get_array();
          streamed.merge_lefts.reserve(merges.count_elements());
          streamed.merge_rights.reserve(streamed.merge_lefts.capacity());
          for (auto merge : merges) {
            const auto [left, right] = read_merge(json, merge.value(), streamed.merge_lefts.size());
            streamed.merge_lefts.push_back(left);
            streamed.merge_rights.push_back(right);
          }
        } else {
          append_field(model_rest, model_key, raw_json_of(model_field.value()));
        }
      }
      append_field(streamed.rest, "model", model_rest + "}");
    }
  } catch (const simdjson::simdjson_error& error) {
    json.fail(fmt::format("not valid JSON: {}", error.what()));
  }
  streamed.rest += '}';
  return streamed;
}

std::string code_point_utf8(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else {  // the byte-level alphabet stays below U+0800
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

// The token of each single byte, which BPE starts from.
template <typename Fail>
std::array<std::int32_t, 256> byte_token_ids(const text::Vocabulary& vocabulary, const Fail& fail) {
  std::array<std::int32_t, 256> byte_ids{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    const auto id = vocabulary.find(code_point_utf8(text::kByteToCodePoint[byte]));
    if (!id) fail(fmt::format("vocabulary lacks the token of byte 0x{:02X}", byte));
    byte_ids[byte] = id.value_or(-1);
  }
  return byte_ids;
}

// Merges: rank = position in the list. Resolved in chunks so the buffers stay small and warm.
template <typename Fail>
std::vector<text::MergeRule> merge_rules(const text::Vocabulary& vocabulary, const text::TokenizerSource& source,
                                         const Fail& fail) {
  const std::vector<std::string_view>& lefts = source.merge_lefts;
  const std::vector<std::string_view>& rights = source.merge_rights;
  std::vector<text::MergeRule> rules(lefts.size());
  std::vector<std::string_view> queries;  // a chunk's lefts, then rights
  std::vector<std::int32_t> ids;
  std::string merged_text;
  constexpr std::size_t kChunk = 2048;
  for (std::size_t first = 0; first < rules.size(); first += kChunk) {
    const std::size_t count = std::min(kChunk, rules.size() - first);
    queries.assign(lefts.begin() + first, lefts.begin() + first + count);
    queries.insert(queries.end(), rights.begin() + first, rights.begin() + first + count);
    vocabulary.find_all(queries, ids);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t rank = first + i;
      // Vocabularies usually number merged tokens in merge order, so the token after the previous
      // merge's result is checked first; only a miss costs a hash lookup.
      const std::int32_t guess = rank > 0 ? rules[rank - 1].merged + 1 : -1;
      const bool guessed = !vocabulary.has_shared_texts() && vocabulary.contains(guess) &&
                           vocabulary.text(guess).size() == lefts[rank].size() + rights[rank].size() &&
                           vocabulary.text(guess).starts_with(lefts[rank]) && vocabulary.text(guess).ends_with(rights[rank]);
      if (guessed) {
        rules[rank] = {ids[i], ids[count + i], guess};
      } else {
        merged_text.assign(lefts[rank]).append(rights[rank]);
        rules[rank] = {ids[i], ids[count + i], vocabulary.find(merged_text).value_or(-1)};
      }
      if (rules[rank].left < 0 || rules[rank].right < 0 || rules[rank].merged < 0) {
        fail(fmt::format("merge {} (\"{}\" \"{}\") names or makes a token not in the vocabulary", rank,
                         lefts[rank], rights[rank]));
      }
    }
  }
  return rules;
}

// Per-thread working memory of encode, so that const methods stay safe to call concurrently
// without locks. Allocated on a thread's first encode (large: the piece cache is 256 KiB).
struct Workspace {
  std::string stretch;
  std::string normalized;
  text::BytePairEncoder::Scratch bpe;
  text::PieceCache pieces;
};

Workspace& this_thread_workspace() {
  thread_local const std::unique_ptr<Workspace> workspace = std::make_unique<Workspace>();
  return *workspace;
}

// Numbers tokenizers for the piece caches; never reused, so a cache never serves a newer
// tokenizer results of an older one that lived at the same address.
std::uint64_t next_instance_number() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

}  // namespace

struct Tokenizer::State {
  const std::uint64_t instance = next_instance_number();
  text::Vocabulary vocabulary;
  text::BytePairEncoder bpe;
  std::vector<std::int32_t> added_ids;
  std::array<bool, 256> starts_added_token{};  // first bytes of added tokens' contents

  struct AddedMatch {
    std::size_t offset;
    std::size_t length;
    std::int32_t id;
  };
  // The leftmost added token in `text` at or after `from`, the longest one at that offset (the
  // reference's dictionary splitter does the same).
  std::optional<AddedMatch> find_added(std::string_view text, std::size_t from) const {
    for (std::size_t i = from; i < text.size(); ++i) {
      if (!starts_added_token[static_cast<unsigned char>(text[i])]) continue;
      std::optional<AddedMatch> longest;
      for (const std::int32_t id : added_ids) {
        const std::string_view content = vocabulary.text(id);
        if (text.substr(i).starts_with(content) && (!longest || content.size() > longest->length)) {
          longest = AddedMatch{i, content.size(), id};
        }
      }
      if (longest) return longest;
    }
    return std::nullopt;
  }

  // NFC, pre-split and BPE of text free of matched added tokens.
  void encode_stretch(std::string_view raw, Workspace& workspace, std::vector<std::int32_t>& ids) const {
    workspace.normalized.clear();
    text::append_nfc(raw, workspace.normalized);
    text::PieceScanner pieces(workspace.normalized);
    for (std::string_view piece = pieces.next(); !piece.empty(); piece = pieces.next()) {
      if (piece.size() > text::PieceCache::kMaxPieceBytes) {
        bpe.encode(piece, workspace.bpe, ids);
        continue;
      }
      const std::size_t hash = text::hash_bytes(piece);
      if (workspace.pieces.lookup(instance, hash, piece, ids)) continue;
      const std::size_t first = ids.size();
      bpe.encode(piece, workspace.bpe, ids);
      workspace.pieces.store(instance, hash, piece, ids.data() + first, ids.size() - first);
    }
  }

  void check_id(std::int32_t id) const {
    if (!vocabulary.contains(id)) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("token id {} is outside the vocabulary [0, {})", id, vocabulary.size()));
    }
  }
};

Tokenizer::Tokenizer(std::unique_ptr<const State> state) : state_(std::move(state)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path_or_dir) {
  const std::string local = hub::resolve(path_or_dir, hub::Need::kTokenizer);
  // Builds the tokenizer from the listed tokens and merges; `fail` throws.
  const auto build = [](const text::TokenizerSource& source, const auto& fail) {
    auto state = std::make_unique<State>();
    for (const text::TokenEntry& token : source.tokens) {
      if (!token.is_added) continue;
      state->added_ids.push_back(token.id);
      state->starts_added_token[static_cast<unsigned char>(token.text[0])] = true;
    }
    state->vocabulary = text::Vocabulary(source.tokens);
    state->bpe = text::BytePairEncoder(byte_token_ids(state->vocabulary, fail),
                                       merge_rules(state->vocabulary, source, fail));
    return Tokenizer(std::move(state));
  };

  if (const auto gguf_path = io::find_gguf(local, {"tokenizer.json"})) {
    const io::GgufFile gguf = io::GgufFile::open(*gguf_path);
    return build(text::read_gguf_tokenizer(gguf), [&](const std::string& what) {
      throw Error(ErrorCode::kCorruptFile, fmt::format("'{}': the tokenizer metadata's {}", gguf_path->string(), what));
    });
  }
  const std::filesystem::path path = tokenizer_json_path(local);
  const JsonReader json(path.string());
  const io::MappedFile file = io::MappedFile::open(path);
  if (file.size() > kMaxTokenizerJsonBytes) {
    json.unsupported(fmt::format("the file is {} bytes, more than the {} qguard reads (Qwen3's is 11 MB)", file.size(),
                                 kMaxTokenizerJsonBytes));
  }
  simdjson::padded_string copy;  // used only when the mapping has no room for simdjson's padding
  const simdjson::padded_string_view contents = padded_view(file, copy);
  simdjson::ondemand::parser streaming_parser;
  StreamedJson streamed = stream_tokenizer_json(json, streaming_parser, contents);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(streamed.rest).get(root)) {
    json.fail(fmt::format("not valid JSON: {}", simdjson::error_message(error)));
  }
  const auto model = json.field(root, "model");
  check_pipeline(json, root, model);
  if (!streamed.has_vocab) json.fail("missing field \"model.vocab\"");
  if (!streamed.has_merges) json.fail("missing field \"model.merges\"");

  // Ids: the model vocabulary and the added tokens together must number 0..N-1, each once.
  text::TokenizerSource source{std::move(streamed.tokens), std::move(streamed.merge_lefts),
                               std::move(streamed.merge_rights)};
  const simdjson::dom::array added_tokens = json.array(root, "added_tokens");
  if (added_tokens.size() > kMaxAddedTokens) {
    json.unsupported(
        fmt::format("it has {} added tokens, more than the {} qguard accepts", added_tokens.size(), kMaxAddedTokens));
  }
  for (const auto added : added_tokens) {
    const std::int32_t id = json.id(json.field(added, "id"), INT32_MAX, "an added token's id");
    const std::string_view content = json.string(added, "content");
    if (content.empty()) json.fail(fmt::format("added token {} has empty content", id));
    for (const std::string_view option : {"lstrip", "rstrip", "single_word", "normalized"}) {
      if (json.flag(added, option)) json.unsupported(fmt::format("added token {} sets \"{}\"", content, option));
    }
    source.tokens.push_back({content, id, true});
  }
  return build(source, [&](const std::string& what) { json.fail(what); });
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, SpecialTokens special) const {
  return encode(std::vector<Segment>{{text, special}});
}

std::vector<std::int32_t> Tokenizer::encode(const std::vector<Segment>& segments) const {
  std::size_t segment_offset = 0;
  for (const Segment& segment : segments) {
    if (const std::size_t bad = text::find_invalid_utf8(segment.text); bad != std::string_view::npos) {
      throw Error(ErrorCode::kInvalidUtf8, fmt::format("text is not valid UTF-8 at byte offset {}", segment_offset + bad));
    }
    segment_offset += segment.text.size();
  }

  Workspace& workspace = this_thread_workspace();
  std::string& stretch = workspace.stretch;  // raw text since the last matched added token
  stretch.clear();
  std::vector<std::int32_t> ids;
  for (const Segment& segment : segments) {
    std::size_t from = 0;
    if (segment.special == SpecialTokens::kMatch) {
      while (const auto match = state_->find_added(segment.text, from)) {
        stretch.append(segment.text.substr(from, match->offset - from));
        state_->encode_stretch(stretch, workspace, ids);
        stretch.clear();
        ids.push_back(match->id);
        from = match->offset + match->length;
      }
    }
    stretch.append(segment.text.substr(from));
  }
  state_->encode_stretch(stretch, workspace, ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
  // Like the reference, bytes are joined and repaired per run between added tokens.
  std::string text;
  std::string run;
  for (const std::int32_t id : ids) {
    state_->check_id(id);
    if (state_->vocabulary.is_added(id)) {
      text::append_utf8_lossy(run, text);
      run.clear();
      text.append(state_->vocabulary.bytes(id));
    } else {
      run.append(state_->vocabulary.bytes(id));
    }
  }
  text::append_utf8_lossy(run, text);
  return text;
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  return state_->vocabulary.find(token);
}

std::string Tokenizer::id_to_token(std::int32_t id) const {
  state_->check_id(id);
  return std::string(state_->vocabulary.text(id));
}

std::size_t Tokenizer::vocab_size() const { return state_->vocabulary.size(); }

}  // namespace qguard
