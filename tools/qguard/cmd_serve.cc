// `qguard serve`: the model card's OpenAI-compatible endpoint (docs/server.md). Flags are named as
// vLLM's. SIGINT/SIGTERM stop accepting, let the accepted requests finish, and exit 0.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <malloc.h>
#include <map>
#include <memory>
#include <pthread.h>
#include <thread>

#include <fmt/format.h>

#include "commands.hpp"
#include "serve/server.hpp"

namespace qguard::cli {
namespace {

struct ServeArgs {
  serve::ServeOptions options;
  std::string mode = "fast";
};

void run_serve(ServeArgs args) {
  args.options.classifier.mode = args.mode == "reference" ? DecodingMode::kReference : DecodingMode::kFast;
  // glibc gives each allocating thread an arena (up to 8 per core), and each arena keeps the freed
  // memory of the largest request it served: with dozens of connection threads RSS creeps up by a
  // request's working memory per arena. Moderations run max_num_seqs at a time, so that many
  // arenas plus the main one suffice (measured: docs/robustness.md, "Soak").
  mallopt(M_ARENA_MAX, args.options.max_num_seqs + 1);
  // Signals are taken by one thread (sigwait); every thread started from here on inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end the server

  serve::Server server(std::move(args.options));
  server.bind();
  std::exception_ptr load_error;
  std::atomic<bool> load_failed{false};
  std::thread loader([&] {
    try {
      server.load();
    } catch (...) {
      load_error = std::current_exception();
      load_failed.store(true, std::memory_order_release);
      kill(getpid(), SIGTERM);  // the signal thread stops the server
    }
  });
  std::thread signals([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    if (!load_failed.load(std::memory_order_acquire)) {
      fmt::print(stderr, "qguard serve: signal {}: finishing accepted requests, then exiting\n", signal);
    }
    server.stop();
  });
  server.listen();
  signals.join();
  loader.join();
  if (load_error) std::rethrow_exception(load_error);
  fmt::print(stderr, "qguard serve: stopped\n");
}

}  // namespace

void add_serve_commands(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  serve::ServeOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand("serve", "Serve the model over HTTP: OpenAI's /v1/chat/completions and "
                                              "/v1/moderations, /v1/models, /health, /metrics (docs/server.md)");
  cmd->add_option("--model", o.model_dir,
                  "Model directory or GGUF file, or Hugging Face repo id ORG/NAME[@REV] (docs/hub.md)")->required();
  cmd->add_option("--host", o.host, "Address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", o.port, "Port (default 8000; 0 = any free port, named in the log)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--served-model-name", o.served_model_names,
                  "Names clients may give as \"model\" (default: the --model argument as given)");
  cmd->add_option("--api-key", o.api_key, "Require `Authorization: Bearer KEY` on /v1/* (or set QGUARD_API_KEY)")
      ->envname("QGUARD_API_KEY");
  cmd->add_option("--threads", o.classifier.threads, "Threads per moderation, the caller included (0 = one per core)")
      ->check(CLI::NonNegativeNumber);
  add_weight_options(*cmd, o.classifier.weights, o.classifier.pack_cache_dir);
  cmd->add_option("--mode", args->mode, "fast (default) or reference (the model card's greedy generation)")
      ->check(CLI::IsMember({"fast", "reference"}));
  cmd->add_option("--max-input-tokens", o.classifier.max_input_tokens, "Longest accepted prompt in tokens")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-num-seqs", o.max_num_seqs, "Moderations running at once (default 1)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-queue", o.max_queue, "Requests waiting for a moderation beyond that; more get 429 (default 32)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-body-bytes", o.max_body_bytes, "Largest request body (default 8 MiB); larger get 413")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-moderation-inputs", o.max_moderation_inputs, "Most inputs in one /v1/moderations request")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--request-timeout", o.request_timeout_seconds,
                  "Seconds a request may wait for a moderation slot before 503 (default 0: no limit)")
      ->check(CLI::NonNegativeNumber);
  const std::map<std::string, Policy> policies{{"strict", Policy::kStrict}, {"loose", Policy::kLoose}};
  cmd->add_option("--policy", o.policy, "/v1/moderations \"flagged\": strict (Controversial counts, default) or loose")
      ->transform(CLI::CheckedTransformer(policies, CLI::ignore_case));
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace qguard::cli
