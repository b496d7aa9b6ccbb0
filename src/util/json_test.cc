#include "util/json.hpp"

#include <doctest/doctest.h>

#include "qguard/error.hpp"

using qguard::util::json_string;

TEST_CASE("json_string escapes what JSON requires and round-trips through simdjson") {
  const std::string text = std::string("say \"hi\"\\ \n\t\r\x01 caf\xC3\xA9 ") + '\0' + "end";
  const std::string literal = json_string(text);
  CHECK(literal.find('\n') == std::string::npos);
  simdjson::dom::parser parser;
  auto root = qguard::util::parse_json(parser, "{\"s\":" + literal + "}", "test");
  std::string_view back;
  REQUIRE(root["s"].get_string().get(back) == simdjson::SUCCESS);
  CHECK(back == text);
}

TEST_CASE("parse_json reports malformed input as kMalformedJson naming the source") {
  simdjson::dom::parser parser;
  try {
    qguard::util::parse_json(parser, "{\"a\": [1, 2", "config.json");
    FAIL("expected an error");
  } catch (const qguard::Error& e) {
    CHECK(e.code() == qguard::ErrorCode::kMalformedJson);
    CHECK(std::string(e.what()).find("config.json") != std::string::npos);
  }
}

TEST_CASE("read_file on a missing path is kNotFound") {
  CHECK_THROWS_AS(qguard::util::read_file("/nonexistent/qguard/file"), qguard::Error);
}
