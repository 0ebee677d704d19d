// Fuzzes the YAML config loader (load_string). A bad config must be a ConfigError naming the
// source, never a crash or another exception: `augur check-config` and SIGHUP reloads read files
// an operator wrote, and a reload must not take down a running proxy.
#include <string>

#include "config/config.hpp"
#include "fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(augur::fuzz::as_text(data, size));
  try {
    const augur::config::Config c = augur::config::load_string(text, "fuzz.yaml");
    FUZZ_CHECK(c.source == "fuzz.yaml");
    // Every route names an upstream that exists (the loader's promise the router relies on).
    for (const auto& route : c.routes) {
      for (const std::string& name : route.upstreams) {
        bool found = false;
        for (const auto& u : c.upstreams) found = found || u.name == name;
        FUZZ_CHECK(found);
      }
    }
  } catch (const augur::config::ConfigError& e) {
    FUZZ_CHECK(e.file() == "fuzz.yaml");
    FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.yaml"));
  }
  return 0;
}
