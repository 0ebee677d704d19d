// simdjson is used here only for the JSON-array form of a lookup path.
#include "app/trie_cli.hpp"

#include <simdjson.h>

#include <ostream>

#include "common/json_string.hpp"
#include "learning/store/redis_store.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/json_text.hpp"
#include "learning/trie/lookup.hpp"
#include "learning/trie/nat_json.hpp"
#include "learning/trie/run_record.hpp"

namespace augur::trie {

namespace {

void append_metrics(std::string& out, const MetricStats& m) {
  out += "{\"sample_count\": ";
  json_text::append_uint(out, m.sample_count);
  out += ", \"mean\": ";
  json_text::append_double(out, m.mean);
  out += ", \"p50\": ";
  json_text::append_double(out, m.p50);
  out += ", \"p90\": ";
  json_text::append_double(out, m.p90);
  out += ", \"p95\": ";
  json_text::append_double(out, m.p95);
  out += '}';
}

// Writes `trie` to `out_path`, or to `out` when it is "-".
void emit(const Trie& trie, const std::filesystem::path& out_path, std::ostream& out) {
  if (out_path == "-") {
    out << serialize_trie(trie) << '\n';
  } else {
    save_trie_file(trie, out_path);
  }
}

}  // namespace

std::vector<std::string> parse_function_path(std::string_view text) {
  std::vector<std::string> path;
  const std::size_t first = text.find_first_not_of(" \t");
  if (first != std::string_view::npos && text[first] == '[') {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(text.data(), text.size()).get(doc) ||
        doc.type() != simdjson::dom::element_type::ARRAY) {
      throw TrieError("path: not a JSON array of strings");
    }
    const simdjson::dom::array names = doc.get_array().value_unsafe();
    for (const simdjson::dom::element name : names) {
      std::string_view s;
      if (name.get_string().get(s)) throw TrieError("path: not a JSON array of strings");
      path.emplace_back(s);
    }
  } else {
    std::size_t pos = 0;
    while (pos <= text.size()) {
      const std::size_t slash = std::min(text.find('/', pos), text.size());
      if (slash > pos) path.emplace_back(text.substr(pos, slash - pos));
      pos = slash + 1;
    }
  }
  if (path.size() > kMaxTrieDepth) throw TrieError("path: deeper than the trie can be");
  return path;
}

int trie_build(const std::filesystem::path& runs_path, const std::filesystem::path& out_path,
               std::string_view workflow_name, std::ostream& out, std::ostream& err,
               const BuilderLimits& limits) {
  try {
    Builder builder(SensitivityConfig{}, limits);
    read_runs_file(runs_path, [&](RunRecord&& run) { builder.add_run(run); });
    const Trie trie = builder.build(std::string(workflow_name));
    emit(trie, out_path, out);
    std::ostream& report = out_path == "-" ? err : out;
    report << "wrote " << (out_path == "-" ? std::string("stdout") : out_path.string()) << ": "
           << builder.state().run_count() << " runs, " << builder.state().call_count()
           << " LLM calls, " << count_nodes(trie) << " nodes\n";
    return kExitOk;
  } catch (const std::exception& e) {
    err << "augur trie build: " << e.what() << '\n';
    return kExitError;
  }
}

int trie_lookup(const std::filesystem::path& trie_path, std::string_view function_path,
                std::uint32_t call_index, std::ostream& out, std::ostream& err) {
  try {
    const Trie trie = load_trie_file(trie_path);
    const std::vector<std::string> names = parse_function_path(function_path);
    const std::vector<std::string_view> views(names.begin(), names.end());
    const std::optional<LookupResult> found = lookup(trie, views, call_index);
    if (!found) {
      err << "augur trie lookup: no prediction on path \"" << function_path << "\" for call index "
          << call_index << '\n';
      return kExitNotFound;
    }
    const Prediction& p = *found->prediction;
    std::string line = "{\"source\": ";
    append_json_string(line, to_string(found->source));
    line += ", \"depth\": ";
    json_text::append_uint(line, found->depth);
    line += ", \"matched_depth\": ";
    json_text::append_uint(line, found->matched_depth);
    line += ", \"remaining_calls\": ";
    append_metrics(line, p.remaining_calls);
    line += ", \"interarrival_ms\": ";
    append_metrics(line, p.interarrival_ms);
    line += ", \"output_tokens\": ";
    append_metrics(line, p.output_tokens);
    line += ", \"latency_sensitivity\": ";
    json_text::append_int_or_null(line, p.latency_sensitivity);
    line += "}\n";
    out << line;
    return kExitOk;
  } catch (const std::exception& e) {
    err << "augur trie lookup: " << e.what() << '\n';
    return kExitError;
  }
}

int trie_convert(const std::filesystem::path& in_path, const std::filesystem::path& out_path,
                 std::ostream& out, std::ostream& err) {
  try {
    const Trie trie = load_trie_file(in_path);
    emit(trie, out_path, out);
    if (out_path != "-")
      out << "wrote " << out_path.string() << ": " << count_nodes(trie) << " nodes\n";
    return kExitOk;
  } catch (const std::exception& e) {
    err << "augur trie convert: " << e.what() << '\n';
    return kExitError;
  }
}

int trie_export(const TrieExportSource& source, const std::filesystem::path& out_path,
                std::ostream& out, std::ostream& err) {
  try {
    store::RedisOptions options;
    options.url = source.redis_url;
    options.ns = source.ns;
    options.key_prefix = source.key_prefix;
    options.connect_timeout = std::chrono::seconds(2);  // a one-off command can afford to wait
    options.command_timeout = std::chrono::seconds(10);
    store::RedisStore redis(std::move(options));
    const auto published = redis.read_trie();
    if (!published) {
      err << "augur trie export: " << published.error() << '\n';
      return kExitError;
    }
    if (!published->has_value()) {
      err << "augur trie export: no trie published at " << redis.keys().trie << " on "
          << redis.endpoint().describe() << '\n';
      return kExitNotFound;
    }
    const auto& [version, json] = **published;
    Trie trie;
    try {
      trie = parse_trie(json);
    } catch (const TrieError& e) {
      err << "augur trie export: the trie at " << redis.keys().trie << " (version " << version
          << ") is corrupt: " << e.what() << '\n';
      return kExitError;
    }
    emit(trie, out_path, out);
    std::ostream& report = out_path == "-" ? err : out;
    report << "wrote " << (out_path == "-" ? std::string("stdout") : out_path.string())
           << ": version " << version << ", " << count_nodes(trie) << " nodes\n";
    return kExitOk;
  } catch (const std::exception& e) {
    err << "augur trie export: " << e.what() << '\n';
    return kExitError;
  }
}

}  // namespace augur::trie
