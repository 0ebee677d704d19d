// augur's command line: `serve` (the default), `check-config`, `trie ...`, `--version`.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "config/config.hpp"
#include "learning/trie/cli.hpp"
#include "proxy/server.hpp"

namespace {

struct ServeOverrides {
  std::string listen;
  std::string admin_listen;
};

int serve(const std::string& config_path, const ServeOverrides& overrides) {
  augur::config::Config cfg;
  try {
    cfg = config_path.empty() ? augur::config::defaults() : augur::config::load_file(config_path);
  } catch (const augur::config::ConfigError& e) {
    std::cerr << "augur: " << e.what() << "\n";
    return 2;
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
    std::cout << path << ": ok (" << cfg.upstreams.size() << " upstream(s), " << cfg.routes.size()
              << " route(s))\n";
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
  app.add_option("--config", config_path, "YAML config file (serve is the default command)");

  ServeOverrides overrides;
  auto* serve_cmd = app.add_subcommand("serve", "Run the proxy (the default command)");
  serve_cmd->add_option("--config", config_path,
                        "YAML config file; without one, the embedded default with the bundled "
                        "mock upstream");
  for (auto* cmd : {static_cast<CLI::App*>(&app), serve_cmd}) {
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
      ->check(CLI::PositiveNumber);
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

  CLI11_PARSE(app, argc, argv);

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
