#include "guard/output_parser.hpp"

#include <optional>
#include <string>

#include <fmt/format.h>

#include "qguard/error.hpp"
#include "util/json.hpp"

namespace qguard::guard {
namespace {

constexpr std::string_view kEndOfOutput = "<|im_end|>";
constexpr std::size_t kQuoteLimit = 120;  // bytes of model text quoted in an error message

constexpr std::string_view kSpace = " \t\r";  // trimmed around tokens; \r so that \r\n works
constexpr std::string_view kSpaceOrNewline = " \t\r\n";

std::string_view trim(std::string_view text, std::string_view blank = kSpace) {
  const std::size_t first = text.find_first_not_of(blank);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(blank) - first + 1);
}

// `text` as a JSON string literal, cut at a character boundary after kQuoteLimit bytes.
std::string quote(std::string_view text) {
  if (text.size() <= kQuoteLimit) return util::json_string(text);
  std::size_t cut = kQuoteLimit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not mid-character
  return util::json_string(text.substr(0, cut)) + "...";
}

class Parser {
 public:
  Parser(std::string_view text, ModerationKind kind) : text_(text), kind_(kind) {}

  Verdict parse() {
    std::string_view body = trim(text_, kSpaceOrNewline);
    if (body.ends_with(kEndOfOutput)) {
      body = trim(body.substr(0, body.size() - kEndOfOutput.size()), kSpaceOrNewline);
    }
    if (body.empty()) fail("the output is empty", text_);

    while (!body.empty()) {
      const std::size_t end = body.find('\n');
      const std::string_view line = trim(body.substr(0, end));
      if (!line.empty()) parse_line(line);
      body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    }

    if (!severity_) fail("there is no 'Safety:' line", text_);
    if (!categories_) fail("there is no 'Categories:' line", text_);
    if (kind_ == ModerationKind::kResponse && !refusal_) {
      fail("a response moderation needs a 'Refusal:' line", text_);
    }
    Verdict verdict;
    verdict.severity = *severity_;
    verdict.categories = *categories_;
    verdict.refusal = refusal_;
    verdict.raw = std::string(text_);
    return verdict;
  }

 private:
  [[noreturn]] void fail(std::string_view reason, std::string_view offending) const {
    std::string message = fmt::format("malformed Qwen3Guard {} moderation output: {}: {}",
                                      kind_ == ModerationKind::kPrompt ? "prompt" : "response", reason,
                                      quote(offending));
    if (offending.size() != text_.size()) message += fmt::format(" (whole output {})", quote(text_));
    throw Error(ErrorCode::kMalformedOutput, message);
  }

  void parse_line(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) fail("a line is not 'Key: value'", line);
    const std::string_view key = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (key == "Safety") {
      if (severity_) fail("a second 'Safety:' line", line);
      severity_ = severity_from_string(value);
      if (!severity_) fail("Safety must be Safe, Unsafe or Controversial", line);
    } else if (key == "Categories") {
      if (categories_) fail("a second 'Categories:' line", line);
      categories_ = parse_categories(value, line);
    } else if (key == "Refusal") {
      if (kind_ == ModerationKind::kPrompt) fail("a prompt moderation has no 'Refusal:' line", line);
      if (refusal_) fail("a second 'Refusal:' line", line);
      if (value == "Yes") {
        refusal_ = true;
      } else if (value == "No") {
        refusal_ = false;
      } else {
        fail("Refusal must be Yes or No", line);
      }
    } else {
      fail("unexpected line", line);
    }
  }

  CategorySet parse_categories(std::string_view list, std::string_view line) const {
    if (list == "None") return {};
    if (list.empty()) fail("Categories must be None or a list of categories", line);
    CategorySet categories;
    while (true) {
      const std::size_t comma = list.find(',');
      const std::string_view name = trim(list.substr(0, comma));
      if (name.empty()) fail("an empty entry in the category list", line);
      if (name == "None") fail("None is listed together with categories", line);
      const std::optional<Category> category = category_from_string(name);
      if (!category) fail(fmt::format("unknown category {}", quote(name)), line);
      if (*category == Category::kJailbreak && kind_ == ModerationKind::kResponse) {
        fail("Jailbreak is not a response-moderation category", line);
      }
      categories.insert(*category);
      if (comma == std::string_view::npos) return categories;
      list = list.substr(comma + 1);
    }
  }

  std::string_view text_;
  ModerationKind kind_;
  std::optional<Severity> severity_;
  std::optional<CategorySet> categories_;
  std::optional<bool> refusal_;
};

}  // namespace

Verdict parse_output(std::string_view text, ModerationKind kind) { return Parser(text, kind).parse(); }

}  // namespace qguard::guard
