// Small JSON helpers shared by the rooms: reading a JSON file with typed errors, and writing
// JSON string literals. Parsing is simdjson's; this only maps its failures to qguard::Error.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace qguard::util {

// The whole file as bytes. Throws Error(kNotFound) naming the path.
std::string read_file(const std::filesystem::path& path);

// Parses `path` with `parser` (the element lives as long as the parser's next parse).
// Throws Error(kNotFound) or Error(kMalformedJson) naming the file and simdjson's reason.
simdjson::dom::element parse_json_file(simdjson::dom::parser& parser, const std::filesystem::path& path);

// Parses in-memory JSON; `what` names the source in error messages.
simdjson::dom::element parse_json(simdjson::dom::parser& parser, std::string_view json, std::string_view what);

// Appends `text` as a quoted JSON string, escaping quotes, backslashes and control characters.
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

}  // namespace qguard::util
