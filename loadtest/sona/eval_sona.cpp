// augur_sona_eval: prints the offline evaluation (offline_eval.hpp) for the steady, drift and
// novel scenarios as a Markdown table, with MicroLoRA-only and patterns-only ablations.
// Usage: augur_sona_eval [--seed N] [--calls N] [--preset NAME]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "loadtest/sona/offline_eval.hpp"

using namespace augur::sona;

namespace {

double reduction(double base, double x) { return base > 0 ? 100.0 * (1 - x / base) : 0; }

void row(const char* scenario, const char* variant, const eval::Result& r) {
  std::printf(
      "| %s | %s | %zu | %.3f / %.3f | %.3f / %.3f | %.3f / %.3f | %.0f%% / %.0f%% | %.0f%% | "
      "%llu/%llu/%llu |\n",
      scenario, variant, r.sona.calls, r.static_defaults.output_tokens,
      r.static_defaults.remaining_calls, r.trie.output_tokens, r.trie.remaining_calls,
      r.sona.output_tokens, r.sona.remaining_calls,
      reduction(r.trie.output_tokens, r.sona.output_tokens),
      reduction(r.trie.remaining_calls, r.sona.remaining_calls),
      r.sona.calls
          ? 100.0 * static_cast<double>(r.sona_answered) / static_cast<double>(r.sona.calls)
          : 0.0,
      (unsigned long long)r.stats.background_cycles, (unsigned long long)r.stats.pattern_updates,
      (unsigned long long)r.stats.patterns_stored);
}

}  // namespace

int main(int argc, char** argv) {
  eval::Options base;
  std::string preset_name = "default";
  double micro_lr = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seed") == 0)
      base.seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--calls") == 0)
      base.calls = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--preset") == 0)
      preset_name = argv[i + 1];
    else if (std::strcmp(argv[i], "--micro-lr") == 0)
      micro_lr = std::strtod(argv[i + 1], nullptr);
    else {
      std::fprintf(stderr, "usage: %s [--seed N] [--calls N] [--preset NAME] [--micro-lr X]\n",
                   argv[0]);
      return 2;
    }
  }
  auto p = preset(preset_name);
  if (!p) {
    std::fprintf(stderr, "unknown preset %s\n", preset_name.c_str());
    return 2;
  }
  base.sona = *p;
  if (micro_lr >= 0) base.sona.micro_lora_lr = micro_lr;
  std::printf("seed %llu, %zu calls at %.0f/s, trie rebuild every %.0f s, preset %s\n\n",
              static_cast<unsigned long long>(base.seed), base.calls, base.calls_per_second,
              base.rebuild_seconds, preset_name.c_str());
  std::printf(
      "| scenario | SONA variant | scored calls | static tokens / remaining | trie "
      "tokens / remaining | trie+SONA tokens / remaining | reduction vs trie | SONA "
      "answered | cycles/pattern updates/patterns "
      "|\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (eval::Scenario s : {eval::Scenario::steady, eval::Scenario::drift, eval::Scenario::novel}) {
    eval::Options o = base;
    o.scenario = s;
    row(eval::to_string(s), "full", eval::run(o));
    if (s == eval::Scenario::drift) {  // the same calls without drift: the noise floor
      eval::Options floor = o;
      floor.drift_factor = 1;
      row("drift x1 (floor)", "full", eval::run(floor));
    }
    eval::Options micro_only = o;
    micro_only.sona.instant_pattern_rate = 0;
    row(eval::to_string(s), "MicroLoRA as the fast path (no instant pattern update)",
        eval::run(micro_only));
    eval::Options patterns_only = o;
    patterns_only.sona.micro_lora_lr = 0;
    row(eval::to_string(s), "no MicroLoRA", eval::run(patterns_only));
    eval::Options cycles_only = micro_only;
    cycles_only.sona.micro_lora_lr = 0;
    row(eval::to_string(s), "background cycles only", eval::run(cycles_only));
  }
  return 0;
}
