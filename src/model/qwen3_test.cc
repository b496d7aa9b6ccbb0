// Properties of the forward pass that need no reference numbers: incremental decoding equals a
// full prefill, KV caches can be cut back and copied, and bad checkpoints or ids fail with types.
// Agreement with the independent numpy reference is tested in tests/reference.
#include "model/qwen3.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "qguard/error.hpp"
#include "qguard/model.hpp"

using namespace qguard;
using namespace qguard::model;
namespace fs = std::filesystem;

namespace {

fs::path testdata(const char* name) { return fs::path(QGUARD_BINARY_DIR) / "testdata" / name; }

std::vector<std::int32_t> random_ids(int count, int vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pick(0, vocab - 1);
  std::vector<std::int32_t> ids(count);
  for (auto& id : ids) id = pick(rng);
  return ids;
}

// max |a - b| relative to max |b|.
double relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  REQUIRE(scale > 0);
  return diff / scale;
}

std::vector<float> row_logits(const Qwen3& m, const std::vector<float>& hidden, int row) {
  return m.logits(hidden.data() + static_cast<std::size_t>(row) * m.config().hidden_size, 1);
}

// A scratch copy of a test checkpoint whose config.json is replaced by `config`.
fs::path with_config(const char* name, const std::string& config) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("qguard_model_test_{}_{}", name, std::random_device{}());
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(testdata(name))) {
    if (entry.path().filename() != "config.json") fs::create_symlink(entry.path(), dir / entry.path().filename());
  }
  std::ofstream(dir / "config.json") << config;
  return dir;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

template <typename F>
void check_error(F&& f, ErrorCode code, const std::string& fragment) {
  try {
    f();
    FAIL("expected qguard::Error");
  } catch (const Error& e) {
    CHECK(e.code() == code);
    CHECK_MESSAGE(std::string(e.what()).find(fragment) != std::string::npos, e.what());
  }
}

}  // namespace

TEST_CASE("prefill of a prefix then token-by-token decode equals one prefill") {
  for (const char* name : {"tied_bf16", "untied_gqa3_f32"}) {
    CAPTURE(name);
    const Qwen3 m(testdata(name), 2, WeightFormat::kAuto);
    const auto ids = random_ids(40, m.config().vocab_size, 11);

    KvCache full_cache = m.new_cache();
    const auto full = m.forward(ids, full_cache);
    CHECK(full_cache.length() == 40);

    KvCache cache = m.new_cache();
    m.forward(std::span(ids).first(25), cache);
    for (int t = 25; t < 40; ++t) {
      const auto hidden = m.forward(std::span(ids).subspan(t, 1), cache);
      CHECK(relative_diff(row_logits(m, hidden, 0), row_logits(m, full, t)) < 1e-5);
    }
    CHECK(cache.length() == 40);
  }
}

TEST_CASE("the last position alone (Outputs::kLast) equals the last row of every position, with the same cache") {
  for (WeightFormat format : {WeightFormat::kAuto, WeightFormat::kInt8}) {
    for (const char* name : {"tied_bf16", "untied_gqa3_f32"}) {
      CAPTURE(name);
      CAPTURE(static_cast<int>(format));
      const Qwen3 m(testdata(name), 2, format);
      const auto ids = random_ids(37, m.config().vocab_size, 12);  // whole tile groups and a tail
      KvCache all_cache = m.new_cache(), last_cache = m.new_cache();
      const auto all = m.forward(ids, all_cache);
      const auto last = m.forward(ids, last_cache, Qwen3::Outputs::kLast);
      REQUIRE(last.size() == static_cast<std::size_t>(m.config().hidden_size));
      CHECK(relative_diff(row_logits(m, last, 0), row_logits(m, all, 36)) < 1e-5);
      // Later positions read the last layer's keys and values of every position from either cache.
      const auto next = random_ids(3, m.config().vocab_size, 13);
      CHECK(relative_diff(row_logits(m, m.forward(next, last_cache), 2), row_logits(m, m.forward(next, all_cache), 2)) <
            1e-5);
    }
  }
}

TEST_CASE("a KV cache can be cut back and copied to continue a shared prefix") {
  const Qwen3 m(testdata("untied_gqa3_f32"), 2, WeightFormat::kAuto);
  const int vocab = m.config().vocab_size;
  const auto prefix = random_ids(30, vocab, 1), a = random_ids(7, vocab, 2), b = random_ids(9, vocab, 3);
  auto joined = [](std::vector<std::int32_t> x, const std::vector<std::int32_t>& y) {
    x.insert(x.end(), y.begin(), y.end());
    return x;
  };
  auto fresh_last = [&](const std::vector<std::int32_t>& ids) {
    KvCache cache = m.new_cache();
    const auto hidden = m.forward(ids, cache);
    return row_logits(m, hidden, static_cast<int>(ids.size()) - 1);
  };

  KvCache shared = m.new_cache();
  m.forward(prefix, shared);
  KvCache copy = shared;
  const auto via_copy = m.forward(b, copy);
  CHECK(relative_diff(row_logits(m, via_copy, 8), fresh_last(joined(prefix, b))) < 1e-5);

  const auto first = m.forward(a, shared);
  CHECK(relative_diff(row_logits(m, first, 6), fresh_last(joined(prefix, a))) < 1e-5);
  shared.resize(30);
  const auto again = m.forward(b, shared);
  CHECK(relative_diff(row_logits(m, again, 8), fresh_last(joined(prefix, b))) < 1e-5);
}

TEST_CASE("branches after a trunk: each branch's states and cache are those of trunk + that branch alone") {
  const std::vector<std::vector<std::int32_t>> branches{{3, 1, 4}, {15}, {9, 2, 6, 5, 3}};
  for (const char* name : {"tied_bf16", "untied_gqa3_f32"}) {
    for (WeightFormat format : {WeightFormat::kAuto, WeightFormat::kInt8}) {
      CAPTURE(name);
      CAPTURE(static_cast<int>(format));
      const Qwen3 m(testdata(name), 2, format);
      const int vocab = m.config().vocab_size, H = m.config().hidden_size;
      const auto prefix = random_ids(6, vocab, 11), trunk = random_ids(4, vocab, 12);
      KvCache start = m.new_cache();
      m.forward(prefix, start);

      KvCache speculated = start;
      const auto states = m.forward_branches(trunk, branches, speculated);
      REQUIRE(states.size() == (1 + 3 + 1 + 5) * static_cast<std::size_t>(H));
      CHECK(speculated.length() == 6 + 4 + 9);
      const int trunk_end = 6 + 4;
      int offset = 0;
      for (const auto& branch : branches) {
        KvCache alone = start;
        const auto trunk_states = m.forward(trunk, alone);
        CHECK(relative_diff(row_logits(m, states, 0), row_logits(m, trunk_states, 3)) < 1e-5);
        const auto branch_states = m.forward(branch, alone);
        for (std::size_t j = 0; j < branch.size(); ++j) {
          CHECK(relative_diff(row_logits(m, states, 1 + offset + static_cast<int>(j)),
                              row_logits(m, branch_states, static_cast<int>(j))) < 1e-5);
        }
        // Keeping this branch leaves the cache trunk + branch: the next tokens continue as after it.
        KvCache kept = speculated;
        kept.keep_branch(trunk_end, trunk_end + offset, static_cast<int>(branch.size()));
        CHECK(kept.length() == alone.length());
        const auto next = random_ids(2, vocab, 13);
        CHECK(relative_diff(row_logits(m, m.forward(next, kept), 1), row_logits(m, m.forward(next, alone), 1)) < 1e-5);
        offset += static_cast<int>(branch.size());
      }
    }
  }
}

TEST_CASE("a KV cache grows by whole blocks, by half or more at a time, and gives back room beyond what it keeps") {
  const Qwen3 m(testdata("untied_gqa3_f32"), 1, WeightFormat::kAuto);
  const int vocab = m.config().vocab_size, block = KvCache::kGrowthPositions;
  KvCache cache = m.new_cache();
  m.forward(random_ids(3, vocab, 4), cache);
  CHECK(cache.capacity() == block);
  for (int i = 0; i < block; ++i) m.forward(random_ids(1, vocab, 5 + i), cache);  // token by token past a block
  CHECK(cache.length() == block + 3);
  CHECK(cache.capacity() == 2 * block);  // not doubled from every length reached on the way

  // Growing token by token reallocates each time by half the capacity or more: a few times, not
  // once per block (38 times from here to 40 blocks).
  KvCache growing = cache;
  int reallocations = 0;
  for (int length = growing.length() + 1; length <= 40 * block; ++length) {
    const int before = growing.capacity();
    growing.resize(length);
    if (growing.capacity() == before) continue;
    ++reallocations;
    CHECK(growing.capacity() >= before + before / 2);
    CHECK(growing.capacity() % block == 0);
  }
  CHECK(reallocations <= 8);
  // Room reserved ahead is what growing then uses.
  KvCache reserved = cache;
  reserved.reserve(10 * block - 5);
  CHECK(reserved.length() == block + 3);
  CHECK(reserved.capacity() == 10 * block);
  reserved.resize(10 * block);
  CHECK(reserved.capacity() == 10 * block);

  // Cut back to a prefix and shrunk to just above it: the prefix continues as before.
  KvCache kept = cache;
  kept.resize(3);
  kept.shrink_capacity(10);
  CHECK(kept.length() == 3);
  CHECK(kept.capacity() == 10);
  KvCache unshrunk = cache;
  unshrunk.resize(3);
  const auto next = random_ids(2, vocab, 99);
  CHECK(m.forward(next, kept) == m.forward(next, unshrunk));
  kept.shrink_capacity(1);  // never below the length
  CHECK(kept.capacity() == 5);
}

TEST_CASE("int8 weights keep a BF16 KV cache; a cache made for other weights is refused") {
  const Qwen3 exact(testdata("tied_bf16"), 1, WeightFormat::kAuto), int8(testdata("tied_bf16"), 1, WeightFormat::kInt8);
  CHECK_FALSE(exact.new_cache().bf16());
  CHECK(int8.new_cache().bf16());
  const auto ids = random_ids(3, exact.config().vocab_size, 21);
  KvCache f32_cache = exact.new_cache(), bf16_cache = int8.new_cache();
  check_error([&] { int8.forward(ids, f32_cache); }, ErrorCode::kInvalidArgument, "another weight format");
  check_error([&] { exact.forward(ids, bf16_cache); }, ErrorCode::kInvalidArgument, "another weight format");
}

TEST_CASE("logits_of equals the chosen columns of the full projection") {
  const Qwen3 m(testdata("tied_bf16"), 1, WeightFormat::kAuto);
  KvCache cache = m.new_cache();
  const auto hidden = m.forward(random_ids(5, m.config().vocab_size, 4), cache);
  const float* last = hidden.data() + 4 * m.config().hidden_size;
  const auto full = m.logits(last, 1);
  const std::vector<std::int32_t> chosen{0, 17, m.config().vocab_size - 1};
  const auto some = m.logits_of(last, chosen);
  for (std::size_t j = 0; j < chosen.size(); ++j) CHECK(some[j] == doctest::Approx(full[chosen[j]]).epsilon(1e-5));
}

TEST_CASE("weight formats: f32 is exact for an F32 checkpoint, bf16 stays close") {
  const auto ids = random_ids(12, 1200, 5);
  const auto as_file = Model::load(testdata("untied_gqa3_f32").string(), {1, WeightFormat::kAuto});
  const auto as_f32 = Model::load(testdata("untied_gqa3_f32").string(), {1, WeightFormat::kF32});
  const auto as_bf16 = Model::load(testdata("untied_gqa3_f32").string(), {1, WeightFormat::kBF16});
  CHECK(as_file->info().weight_format == "F32");
  CHECK(as_bf16->info().weight_format == "BF16");
  CHECK(as_bf16->info().weight_bytes < as_f32->info().weight_bytes);
  CHECK(as_file->logits(ids) == as_f32->logits(ids));
  CHECK(relative_diff(as_bf16->logits(ids), as_f32->logits(ids)) < 0.05);
}

TEST_CASE("bad ids and bad checkpoints fail with typed errors") {
  const Qwen3 m(testdata("tied_bf16"), 1, WeightFormat::kAuto);
  KvCache cache = m.new_cache();
  const std::vector<std::int32_t> bad{1, m.config().vocab_size};
  check_error([&] { m.forward(bad, cache); }, ErrorCode::kInvalidArgument, "outside the vocabulary");
  check_error([&] { Model::load(testdata("tied_bf16").string())->logits({}); }, ErrorCode::kInvalidArgument, "at least one");

  const std::string config = read_text(testdata("tied_bf16") / "config.json");
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string c = config;
    const auto at = c.find(from);
    REQUIRE(at != std::string::npos);
    return c.replace(at, from.size(), to);
  };
  // The text of one entry, e.g. "hidden_size": 64.
  auto entry = [&](const std::string& key) {
    const std::string from_key = config.substr(config.find("\"" + key + "\""));
    return from_key.substr(0, from_key.find_first_of(",}"));
  };
  const std::string hidden_entry = entry("hidden_size");

  check_error([&] { Qwen3(testdata("missing_model"), 1, WeightFormat::kAuto); }, ErrorCode::kNotFound, "does not exist");
  check_error([&] { Qwen3(testdata("tied_bf16") / "config.json", 1, WeightFormat::kAuto); }, ErrorCode::kNotFound, "not a directory");
  const fs::path empty = fs::temp_directory_path() / fmt::format("qguard_empty_model_{}", std::random_device{}());
  fs::create_directories(empty);
  check_error([&] { Qwen3(empty, 1, WeightFormat::kAuto); }, ErrorCode::kNotFound, "config.json");
  fs::remove_all(empty);
  const std::vector<std::tuple<std::string, ErrorCode, std::string>> cases{
      {replaced("\"qwen3\"", "\"llama\""), ErrorCode::kUnsupportedModel, "llama"},
      {replaced("Qwen3ForCausalLM", "Qwen3ForSequenceClassification"), ErrorCode::kUnsupportedModel, "architectures"},
      {replaced(hidden_entry, "\"hidden_size\": 48"), ErrorCode::kShapeMismatch, "model.embed_tokens.weight"},
      {replaced(hidden_entry, "\"hidden_size\": -4"), ErrorCode::kUnsupportedModel, "hidden_size"},
      // Sizes far beyond any Qwen3 are refused before anything is allocated for them (a billion
      // layers once ended in std::bad_alloc), and so are products that would overflow.
      {replaced(entry("num_hidden_layers"), "\"num_hidden_layers\": 1000000000"), ErrorCode::kUnsupportedModel,
       "num_hidden_layers = 1000000000 is out of range (1 to 1024)"},
      {replaced(entry("num_attention_heads"), "\"num_attention_heads\": 1048576"), ErrorCode::kUnsupportedModel,
       "num_attention_heads = 1048576 is out of range"},
      {replaced(entry("vocab_size"), "\"vocab_size\": 2000000000"), ErrorCode::kUnsupportedModel, "vocab_size"},
      // Plausible sizes are checked against the tensors actually present.
      {replaced(entry("num_hidden_layers"), "\"num_hidden_layers\": 1000"), ErrorCode::kShapeMismatch,
       "num_hidden_layers = 1000 but the checkpoint's tensors hold 2 layer(s)"},
      {replaced(entry("num_hidden_layers"), "\"num_hidden_layers\": 1"), ErrorCode::kShapeMismatch,
       "num_hidden_layers = 1 but the checkpoint's tensors hold 2 layer(s)"},
      {replaced(entry("vocab_size"), "\"vocab_size\": 4000000"), ErrorCode::kShapeMismatch,
       "model.embed_tokens.weight"},
      {config.substr(0, config.size() / 2), ErrorCode::kMalformedJson, "config.json"},
  };
  for (const auto& [text, code, fragment] : cases) {
    CAPTURE(fragment);
    const fs::path dir = with_config("tied_bf16", text);
    check_error([&] { Qwen3(dir, 1, WeightFormat::kAuto); }, code, fragment);
    fs::remove_all(dir);
  }
}

TEST_CASE("Model::Session appends in pieces with the logits of one Model::logits call") {
  const auto model = Model::load(testdata("untied_gqa3_f32").string(), {1, WeightFormat::kAuto});
  const auto ids = random_ids(20, model->info().vocab_size, 9);
  Model::Session session(model);
  session.append(std::vector<std::int32_t>(ids.begin(), ids.begin() + 13));
  std::vector<std::vector<float>> steps;
  for (int t = 13; t < 20; ++t) steps.push_back(session.append({ids[t]}));
  const std::vector<float>& last = steps.back();
  CHECK(session.length() == 20);
  CHECK(relative_diff(last, model->logits(ids)) < 1e-5);
  CHECK_THROWS_AS(session.append({}), Error);

  // Room reserved ahead changes no result; a reservation past the model's positions is refused.
  Model::Session reserved(model);
  reserved.reserve(20);
  reserved.append(std::vector<std::int32_t>(ids.begin(), ids.begin() + 13));
  for (int t = 13; t < 20; ++t) CHECK(reserved.append({ids[t]}) == steps[t - 13]);
  CHECK(reserved.length() == 20);
  const int most = model->info().max_position_embeddings;
  CHECK_NOTHROW(reserved.reserve(most));
  check_error([&] { reserved.reserve(-1); }, ErrorCode::kInvalidArgument, ">= 0");
  check_error([&] { reserved.reserve(most + 1); }, ErrorCode::kInputTooLong, "maximum");
}
