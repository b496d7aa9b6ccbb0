// The JSON string literal qguard writes for a text (quotes, backslashes and control characters
// escaped; UTF-8 passed through), for programs that emit qguard's results inside their own JSON.
#pragma once

#include <string>
#include <string_view>

namespace qguard {

std::string to_json_string(std::string_view text);

}  // namespace qguard
