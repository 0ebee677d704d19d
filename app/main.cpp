// augur's command line: `serve` (the default), `check-config`, `trie ...`, `--version`. Parses the
// arguments and hands each command to the component that does it.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <optional>

#include "app/demo_upstream.hpp"
#include "app/trie_cli.hpp"
#include "config/config.hpp"
#include "learning/trie/nat_json.hpp"
#include "proxy/server/server.hpp"

namespace {

struct ServeOverrides {
  std::string listen;
  std::string admin_listen;
};

int serve(const std::string& config_path, const ServeOverrides& overrides) {
  augur::config::Config cfg;
  std::optional<augur::app::DemoUpstream> demo;
  try {
    // No config file: the demo, the embedded default with the bundled mock upstream.
    if (config_path.empty()) {
      cfg = augur::config::defaults();
      demo.emplace();
      cfg.upstreams.push_back(demo->upstream());
    } else {
      cfg = augur::config::load_file(config_path);
      augur::config::require_upstream(cfg);
    }
  } catch (const augur::config::ConfigError& e) {
    std::cerr << "augur: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "augur: demo upstream: " << e.what() << "\n";
    return 1;
  }
  const auto override_endpoint = [](const std::string& text, const char* flag,
                                    augur::config::Endpoint& into) {
    if (text.empty()) return true;
    const auto ep = augur::config::parse_endpoint(text);
    if (!ep) {
      std::cerr << "augur: " << flag << ": not a HOST:PORT: \"" << text << "\"\n";
      return false;
    }
    into = *ep;
    return true;
  };
  if (!override_endpoint(overrides.listen, "--listen", cfg.listen) ||
      !override_endpoint(overrides.admin_listen, "--admin-listen", cfg.admin.listen)) {
    return 2;
  }
  try {
    augur::proxy::Server server(std::move(cfg), config_path);
    return server.run();
  } catch (const augur::config::ConfigError& e) {
    std::cerr << "augur: " << e.what() << "\n";  // e.g. an unreadable prediction.trie_file
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "augur: " << e.what() << "\n";
    return 1;
  }
}

int check_config(const std::string& path) {
  try {
    const auto cfg = augur::config::load_file(path);
    augur::config::require_upstream(cfg);
    const auto trie = augur::proxy::load_prediction_trie(cfg);  // what serve loads at start
    std::cout << path << ": ok (" << cfg.upstreams.size() << " upstream(s), " << cfg.routes.size()
              << " route(s)";
    if (trie) std::cout << ", trie_file: " << augur::trie::count_nodes(*trie) << " node(s)";
    std::cout << ")\n";
    return 0;
  } catch (const augur::config::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::set_default_logger(spdlog::stderr_color_mt("augur"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  CLI::App app{
      "augur: a learning reverse proxy that tells LLM routers what each agent call will do"};
  app.set_version_flag("--version", std::string("augur ") + AUGUR_VERSION);
  app.require_subcommand(0, 1);

  std::string config_path;
  bool demo = false;  // the same as no --config; the flag says so explicitly
  ServeOverrides overrides;
  auto* serve_cmd = app.add_subcommand("serve", "Run the proxy (the default command)");
  for (auto* cmd : {static_cast<CLI::App*>(&app), serve_cmd}) {
    auto* config_opt = cmd->add_option(
        "--config", config_path, "YAML config file (at least one upstream); without one: --demo");
    cmd->add_flag("--demo", demo,
                  "Serve the bundled mock upstream with the embedded default config (what "
                  "running without --config does)")
        ->excludes(config_opt);
    cmd->add_option("--listen", overrides.listen, "Override `listen` (HOST:PORT, port 0 = any)");
    cmd->add_option("--admin-listen", overrides.admin_listen, "Override `admin.listen`");
  }

  std::string check_path;
  auto* check_cmd = app.add_subcommand("check-config", "Validate a config file and exit");
  check_cmd->add_option("file", check_path, "YAML config file")->required();

  auto* trie_cmd =
      app.add_subcommand("trie", "Build, look up, convert and export prediction tries");
  trie_cmd->require_subcommand(1);
  std::string runs_path, out_path = "-", trie_path, in_path, function_path, workflow;
  std::uint32_t call_index = 1;
  workflow = std::string(augur::trie::kDefaultWorkflowName);
  auto* build_cmd = trie_cmd->add_subcommand("build", std::string(augur::trie::kTrieBuildHelp));
  build_cmd->add_option("--runs", runs_path, "Run records, JSON Lines")->required();
  build_cmd->add_option("--out", out_path, "Output prediction_trie.json (- = stdout)");
  build_cmd->add_option("--workflow-name", workflow, "workflow_name written in the trie");
  auto* lookup_cmd = trie_cmd->add_subcommand("lookup", std::string(augur::trie::kTrieLookupHelp));
  lookup_cmd->add_option("--trie", trie_path, "prediction_trie.json")->required();
  lookup_cmd->add_option("--path", function_path, "Function path, a/b or [\"a\",\"b\"]");
  lookup_cmd->add_option("--call-index", call_index, "1-based call index")
      ->check(CLI::Validator(
          [](const std::string& v) {
            return v.find_first_not_of("0123456789") == std::string::npos &&
                           v.find_first_not_of('0') != std::string::npos
                       ? std::string()
                       : "call indices are whole numbers from 1";
          },
          "N>=1"));
  auto* convert_cmd =
      trie_cmd->add_subcommand("convert", std::string(augur::trie::kTrieConvertHelp));
  convert_cmd->add_option("--in", in_path, "prediction_trie.json to read")->required();
  convert_cmd->add_option("--out", out_path, "Output (- = stdout)");
  augur::trie::TrieExportSource export_source;
  auto* export_cmd = trie_cmd->add_subcommand("export", std::string(augur::trie::kTrieExportHelp));
  export_cmd->add_option("--redis", export_source.redis_url, "redis://[:PASSWORD@]HOST[:PORT][/DB]")
      ->required();
  export_cmd->add_option("--namespace", export_source.ns, "store.namespace of the replicas")
      ->required();
  export_cmd->add_option("--key-prefix", export_source.key_prefix, "store.key_prefix")
      ->capture_default_str();
  export_cmd->add_option("--out", out_path, "Output prediction_trie.json (- = stdout)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (CLI11's own codes vary by error).
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (check_cmd->parsed()) return check_config(check_path);
  if (build_cmd->parsed()) {
    return augur::trie::trie_build(runs_path, out_path, workflow, std::cout, std::cerr);
  }
  if (lookup_cmd->parsed()) {
    return augur::trie::trie_lookup(trie_path, function_path, call_index, std::cout, std::cerr);
  }
  if (convert_cmd->parsed()) {
    return augur::trie::trie_convert(in_path, out_path, std::cout, std::cerr);
  }
  if (export_cmd->parsed()) {
    return augur::trie::trie_export(export_source, out_path, std::cout, std::cerr);
  }
  return serve(config_path, overrides);
}
