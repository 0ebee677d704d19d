// Hand-written so the output is exactly Python's json.dump(trie_dict, f, indent=2): NAT's key
// order, one item per line, ": " between key and value, floats as repr(float), empty objects as {}.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/json_string.hpp"
#include "learning/trie/json_text.hpp"
#include "learning/trie/nat_json.hpp"

namespace augur::trie {

namespace {

using augur::append_json_string;
using json_text::append_double;
using json_text::newline_indent;

void append_key(std::string& out, int level, std::string_view key) {
  newline_indent(out, level);
  append_json_string(out, key);
  out += ": ";
}

void write_metrics(std::string& out, int level, const MetricStats& m) {
  for (const double v : {m.mean, m.p50, m.p90, m.p95}) {
    if (!std::isfinite(v)) throw TrieError("serialize_trie: a metric value is not finite");
  }
  out += '{';
  append_key(out, level + 1, "sample_count");
  json_text::append_uint(out, m.sample_count);
  out += ',';
  append_key(out, level + 1, "mean");
  append_double(out, m.mean);
  out += ',';
  append_key(out, level + 1, "p50");
  append_double(out, m.p50);
  out += ',';
  append_key(out, level + 1, "p90");
  append_double(out, m.p90);
  out += ',';
  append_key(out, level + 1, "p95");
  append_double(out, m.p95);
  newline_indent(out, level);
  out += '}';
}

void write_prediction(std::string& out, int level, const Prediction& p) {
  out += '{';
  append_key(out, level + 1, "remaining_calls");
  write_metrics(out, level + 1, p.remaining_calls);
  out += ',';
  append_key(out, level + 1, "interarrival_ms");
  write_metrics(out, level + 1, p.interarrival_ms);
  out += ',';
  append_key(out, level + 1, "output_tokens");
  write_metrics(out, level + 1, p.output_tokens);
  out += ',';
  append_key(out, level + 1, "latency_sensitivity");
  if (p.latency_sensitivity) {
    json_text::append_int(out, *p.latency_sensitivity);
  } else {
    out += "null";
  }
  newline_indent(out, level);
  out += '}';
}

void write_node(std::string& out, int level, const Node& node) {
  out += '{';
  append_key(out, level + 1, "name");
  append_json_string(out, node.name);
  out += ',';

  append_key(out, level + 1, "predictions_by_call_index");
  if (node.predictions_by_call_index.empty()) {
    out += "{}";  // json.dump writes empty containers without a line break
  } else {
    out += '{';
    bool first = true;
    for (const auto& [index, prediction] : node.predictions_by_call_index) {
      if (!first) out += ',';
      first = false;
      newline_indent(out, level + 2);
      out += '"';
      json_text::append_uint(out, index);
      out += "\": ";
      write_prediction(out, level + 2, prediction);
    }
    newline_indent(out, level + 1);
    out += '}';
  }
  out += ',';

  append_key(out, level + 1, "predictions_any_index");
  if (node.predictions_any_index) {
    write_prediction(out, level + 1, *node.predictions_any_index);
  } else {
    out += "null";
  }
  out += ',';

  append_key(out, level + 1, "children");
  if (node.children.empty()) {
    out += "{}";
  } else {
    out += '{';
    bool first = true;
    for (const Node& child : node.children.nodes()) {
      if (!first) out += ',';
      first = false;
      append_key(out, level + 2, child.name);
      write_node(out, level + 2, child);
    }
    newline_indent(out, level + 1);
    out += '}';
  }
  newline_indent(out, level);
  out += '}';
}

}  // namespace

std::string serialize_trie(const Trie& trie) {
  std::string out;
  out.reserve(4096);
  out += '{';
  append_key(out, 1, "version");
  append_json_string(out, trie.version);
  out += ',';
  append_key(out, 1, "generated_at");
  append_json_string(out, trie.generated_at);
  out += ',';
  append_key(out, 1, "workflow_name");
  append_json_string(out, trie.workflow_name);
  out += ',';
  append_key(out, 1, "root");
  write_node(out, 1, trie.root);
  out += "\n}";
  return out;
}

void save_trie_file(const Trie& trie, const std::filesystem::path& file) {
  const std::string text = serialize_trie(trie);
  std::filesystem::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw TrieError(tmp.string() + ": cannot open for writing: " + std::strerror(errno));
    }
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) throw TrieError(tmp.string() + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw TrieError(file.string() + ": cannot replace: " + why);
  }
}

}  // namespace augur::trie
