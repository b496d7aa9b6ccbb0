// The JSON string literal qguard writes for a text (quotes, backslashes and control characters
// escaped; UTF-8 passed through), for programs that emit qguard's results inside their own JSON.
#pragma once

#include <string>
#include <string_view>

#include "qguard/export.h"

namespace qguard {

QGUARD_API std::string to_json_string(std::string_view text);

}  // namespace qguard
