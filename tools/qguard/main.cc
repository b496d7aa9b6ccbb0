// `qguard`: the command-line face of the library. Results go to stdout, errors to stderr with a
// non-zero exit code.
#include <cstdio>
#include <exception>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "qguard/error.hpp"
#include "qguard/qguard.h"

int main(int argc, char** argv) {
  CLI::App app{"qguard: Qwen3Guard-Gen safety moderation on the CPU"};
  app.set_version_flag("--version", std::string("qguard ") + qguard_version());
  app.require_subcommand(1);
  qguard::cli::add_model_commands(app);
  qguard::cli::add_guard_commands(app);
  qguard::cli::add_bench_commands(app);
  qguard::cli::add_text_commands(app);
  qguard::cli::add_serve_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const qguard::Error& e) {
    fmt::print(stderr, "qguard: error [{}]: {}\n", qguard::to_string(e.code()), e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qguard: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
