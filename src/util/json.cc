#include "util/json.hpp"

#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "qguard/error.hpp"
#include "qguard/json.hpp"

namespace qguard::util {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, fmt::format("cannot open '{}'", path.string()));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

simdjson::dom::element parse_json(simdjson::dom::parser& parser, std::string_view json, std::string_view what) {
  simdjson::dom::element root;
  if (auto err = parser.parse(simdjson::padded_string(json)).get(root)) {
    throw Error(ErrorCode::kMalformedJson, fmt::format("{} is not valid JSON: {}", what, simdjson::error_message(err)));
  }
  return root;
}

simdjson::dom::element parse_json_file(simdjson::dom::parser& parser, const std::filesystem::path& path) {
  return parse_json(parser, read_file(path), fmt::format("'{}'", path.string()));
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

}  // namespace qguard::util

namespace qguard {

std::string to_json_string(std::string_view text) { return util::json_string(text); }

}  // namespace qguard
