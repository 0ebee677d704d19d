// Run records <-> JSON Lines. simdjson stays inside the JSON readers (via json_read.hpp);
// run_record.hpp exposes only our own types.
#include "learning/trie/run_record.hpp"

#include <fstream>
#include <istream>
#include <limits>
#include <ostream>

#include "common/json_string.hpp"
#include "learning/trie/json_read.hpp"
#include "learning/trie/json_text.hpp"
#include "learning/trie/trie.hpp"

namespace augur::trie {

namespace {

namespace dom = simdjson::dom;

constexpr std::uint64_t kMaxTokens = std::uint64_t{1} << 53;

constexpr std::string_view kRunKeys[] = {"run_id", "started_at_ms", "ended_at_ms", "calls"};
constexpr std::string_view kCallKeys[] = {
    "kind", "path", "call_index", "started_at_ms", "ended_at_ms", "output_tokens", "status"};

class RunReader : detail::JsonReader {
 public:
  using JsonReader::set_prefix;

  RunRecord read(std::string_view json) {
    path_.clear();
    const dom::element doc = parse(parser_, json);
    RunRecord run;
    read_run(doc, run);
    return run;
  }

 private:
  std::uint64_t uint_of(dom::element e, std::uint64_t max) {
    std::uint64_t v = 0;
    if (e.type() == dom::element_type::INT64) {
      const std::int64_t i = e.get_int64().value_unsafe();
      if (i < 0) path_.fail("must not be negative");
      v = static_cast<std::uint64_t>(i);
    } else if (e.type() == dom::element_type::UINT64) {
      v = e.get_uint64().value_unsafe();
    } else {
      path_.fail("must be an integer");
    }
    if (v > max) path_.fail("is too large");
    return v;
  }

  std::int64_t time_of(dom::element e) {
    return static_cast<std::int64_t>(
        uint_of(e, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
  }

  // Checked once the whole object is read, so the keys may come in any order.
  void check_end(std::int64_t started_at_ms, const std::optional<std::int64_t>& ended_at_ms) {
    if (ended_at_ms && *ended_at_ms < started_at_ms) {
      FieldScope scope(path_, "ended_at_ms");
      path_.fail("ends before started_at_ms");
    }
  }

  void read_run(dom::element e, RunRecord& run) {
    const detail::SeenKeys seen =
        for_each_field(object_of(e), kRunKeys, [&](unsigned bit, dom::element v) {
          switch (bit) {
            case 0:
              run.run_id = string_of(v);
              break;
            case 1:
              run.started_at_ms = time_of(v);
              break;
            case 2:
              if (!is_null(v)) run.ended_at_ms = time_of(v);
              break;
            default:
              read_calls(v, run.calls);
              break;
          }
        });
    require(seen, kRunKeys, {0, 1, 3});
    check_end(run.started_at_ms, run.ended_at_ms);
  }

  void read_calls(dom::element e, std::vector<CallRecord>& calls) {
    const dom::array arr = array_of(e);
    calls.reserve(arr.size());
    for_each_item(arr, [&](dom::element item) { read_call(item, calls.emplace_back()); });
  }

  void read_call(dom::element e, CallRecord& call) {
    const detail::SeenKeys seen =
        for_each_field(object_of(e), kCallKeys, [&](unsigned bit, dom::element v) {
          switch (bit) {
            case 0:
              call.kind = string_of(v);
              break;
            case 1:
              read_path(v, call.path);
              break;
            case 2:
              if (!is_null(v)) {
                const std::uint64_t index = uint_of(v, kMaxCallIndex);
                if (index == 0) path_.fail("call index must be a positive integer");
                call.call_index = static_cast<std::uint32_t>(index);
              }
              break;
            case 3:
              call.started_at_ms = time_of(v);
              break;
            case 4:
              if (!is_null(v)) call.ended_at_ms = time_of(v);
              break;
            case 5:
              if (!is_null(v)) call.output_tokens = uint_of(v, kMaxTokens);
              break;
            default:
              if (!is_null(v)) call.status = static_cast<int>(uint_of(v, 999));
              break;
          }
        });
    require(seen, kCallKeys, {0, 3});
    check_end(call.started_at_ms, call.ended_at_ms);
  }

  void read_path(dom::element e, std::vector<std::string>& path) {
    if (is_null(e)) return;
    const dom::array arr = array_of(e, "must be an array of strings");
    if (arr.size() > kMaxPathLength) {
      path_.fail("is longer than " + std::to_string(kMaxPathLength) + " names");
    }
    for_each_item(arr, [&](dom::element item) { path.emplace_back(string_of(item)); });
  }

  dom::parser parser_;
};

}  // namespace

RunRecord parse_run_record(std::string_view json) { return RunReader().read(json); }

std::size_t read_runs_jsonl(std::istream& in, const std::function<void(RunRecord&&)>& on_run) {
  RunReader reader;
  std::string line;
  std::size_t line_no = 0;
  std::size_t runs = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    reader.set_prefix("line " + std::to_string(line_no) + ": ");
    on_run(reader.read(line));
    ++runs;
  }
  if (in.bad()) throw TrieError("read error after line " + std::to_string(line_no));
  return runs;
}

std::size_t read_runs_file(const std::filesystem::path& file,
                           const std::function<void(RunRecord&&)>& on_run) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw TrieError(file.string() + ": cannot open for reading");
  try {
    return read_runs_jsonl(in, on_run);
  } catch (const TrieError& e) {
    throw TrieError(file.string() + ": " + e.what());
  }
}

std::string serialize_run_record(const RunRecord& run) {
  std::string out;
  out.reserve(128 + run.calls.size() * 160);
  out += "{\"run_id\": ";
  append_json_string(out, run.run_id);
  out += ", \"started_at_ms\": ";
  json_text::append_int(out, run.started_at_ms);
  out += ", \"ended_at_ms\": ";
  json_text::append_int_or_null(out, run.ended_at_ms);
  out += ", \"calls\": [";
  bool first_call = true;
  for (const CallRecord& call : run.calls) {
    if (!first_call) out += ", ";
    first_call = false;
    out += "{\"kind\": ";
    append_json_string(out, call.kind);
    out += ", \"path\": [";
    for (std::size_t i = 0; i < call.path.size(); ++i) {
      if (i > 0) out += ", ";
      append_json_string(out, call.path[i]);
    }
    out += "], \"call_index\": ";
    json_text::append_uint_or_null(out, call.call_index);
    out += ", \"started_at_ms\": ";
    json_text::append_int(out, call.started_at_ms);
    out += ", \"ended_at_ms\": ";
    json_text::append_int_or_null(out, call.ended_at_ms);
    out += ", \"output_tokens\": ";
    json_text::append_uint_or_null(out, call.output_tokens);
    out += ", \"status\": ";
    json_text::append_int(out, call.status);
    out += '}';
  }
  out += "]}";
  return out;
}

void write_runs_jsonl(std::ostream& out, std::span<const RunRecord> runs) {
  for (const RunRecord& run : runs) {
    const std::string line = serialize_run_record(run);
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    out.put('\n');
  }
}

}  // namespace augur::trie
