// simdjson stays inside this file; run_record.hpp exposes only our own types.
#include "learning/trie/run_record.hpp"

#include <simdjson.h>

#include <fstream>
#include <istream>
#include <limits>
#include <ostream>

#include "learning/trie/field_path.hpp"
#include "learning/trie/json_text.hpp"
#include "learning/trie/trie.hpp"

namespace augur::trie {

namespace {

namespace dom = simdjson::dom;

constexpr std::uint64_t kMaxTokens = std::uint64_t{1} << 53;

class RunReader {
 public:
  explicit RunReader(FieldPath& path) : path_(path) {}

  RunRecord read(std::string_view json) {
    path_.clear();
    dom::element doc;
    if (const auto error = parser_.parse(json.data(), json.size()).get(doc); error) {
      path_.fail(std::string("invalid JSON: ") + simdjson::error_message(error));
    }
    RunRecord run;
    read_run(doc, run);
    return run;
  }

 private:
  dom::object object_of(dom::element e) {
    if (e.type() != dom::element_type::OBJECT) path_.fail("must be an object");
    return e.get_object().value_unsafe();
  }

  std::string_view string_of(dom::element e) {
    if (e.type() != dom::element_type::STRING) path_.fail("must be a string");
    return e.get_string().value_unsafe();
  }

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

  static bool is_null(dom::element e) { return e.type() == dom::element_type::NULL_VALUE; }

  void duplicate(std::string_view key) { path_.fail("duplicate key \"" + std::string(key) + "\""); }

  void read_run(dom::element e, RunRecord& run) {
    const dom::object obj = object_of(e);
    std::uint32_t seen = 0;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      unsigned bit = 0;
      if (key == "run_id") {
        bit = 0;
      } else if (key == "started_at_ms") {
        bit = 1;
      } else if (key == "ended_at_ms") {
        bit = 2;
      } else if (key == "calls") {
        bit = 3;
      } else {
        continue;
      }
      if (seen & (1u << bit)) duplicate(key);
      seen |= 1u << bit;
      FieldScope scope(path_, key);
      switch (bit) {
        case 0:
          run.run_id = string_of(field.value);
          break;
        case 1:
          run.started_at_ms = time_of(field.value);
          break;
        case 2:
          if (!is_null(field.value)) run.ended_at_ms = time_of(field.value);
          break;
        default:
          read_calls(field.value, run.calls);
          break;
      }
    }
    if (!(seen & 1u)) path_.fail("missing key \"run_id\"");
    if (!(seen & 2u)) path_.fail("missing key \"started_at_ms\"");
    if (!(seen & 8u)) path_.fail("missing key \"calls\"");
    if (run.ended_at_ms && *run.ended_at_ms < run.started_at_ms) {
      FieldScope scope(path_, "ended_at_ms");
      path_.fail("ends before started_at_ms");
    }
  }

  void read_calls(dom::element e, std::vector<CallRecord>& calls) {
    if (e.type() != dom::element_type::ARRAY) path_.fail("must be an array");
    const dom::array arr = e.get_array().value_unsafe();
    calls.reserve(arr.size());
    std::size_t i = 0;
    for (const dom::element item : arr) {
      FieldScope scope(path_, i++);
      read_call(item, calls.emplace_back());
    }
  }

  void read_call(dom::element e, CallRecord& call) {
    const dom::object obj = object_of(e);
    std::uint32_t seen = 0;
    for (const dom::key_value_pair field : obj) {
      const std::string_view key = field.key;
      unsigned bit = 0;
      if (key == "kind") {
        bit = 0;
      } else if (key == "path") {
        bit = 1;
      } else if (key == "call_index") {
        bit = 2;
      } else if (key == "started_at_ms") {
        bit = 3;
      } else if (key == "ended_at_ms") {
        bit = 4;
      } else if (key == "output_tokens") {
        bit = 5;
      } else if (key == "status") {
        bit = 6;
      } else {
        continue;
      }
      if (seen & (1u << bit)) duplicate(key);
      seen |= 1u << bit;
      FieldScope scope(path_, key);
      const dom::element v = field.value;
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
    }
    if (!(seen & 1u)) path_.fail("missing key \"kind\"");
    if (!(seen & 8u)) path_.fail("missing key \"started_at_ms\"");
    if (call.ended_at_ms && *call.ended_at_ms < call.started_at_ms) {
      FieldScope scope(path_, "ended_at_ms");
      path_.fail("ends before started_at_ms");
    }
  }

  void read_path(dom::element e, std::vector<std::string>& path) {
    if (is_null(e)) return;
    if (e.type() != dom::element_type::ARRAY) path_.fail("must be an array of strings");
    const dom::array arr = e.get_array().value_unsafe();
    if (arr.size() > kMaxPathLength) {
      path_.fail("is longer than " + std::to_string(kMaxPathLength) + " names");
    }
    std::size_t i = 0;
    for (const dom::element item : arr) {
      FieldScope scope(path_, i++);
      path.emplace_back(string_of(item));
    }
  }

  FieldPath& path_;
  dom::parser parser_;
};

void append_optional_int(std::string& out, const std::optional<std::int64_t>& v) {
  if (v) {
    json_text::append_int(out, *v);
  } else {
    out += "null";
  }
}

}  // namespace

RunRecord parse_run_record(std::string_view json) {
  FieldPath path;
  return RunReader(path).read(json);
}

std::size_t read_runs_jsonl(std::istream& in, const std::function<void(RunRecord&&)>& on_run) {
  FieldPath path;
  RunReader reader(path);
  std::string line;
  std::size_t line_no = 0;
  std::size_t runs = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    path.prefix = "line " + std::to_string(line_no) + ": ";
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
  json_text::append_string(out, run.run_id);
  out += ", \"started_at_ms\": ";
  json_text::append_int(out, run.started_at_ms);
  out += ", \"ended_at_ms\": ";
  append_optional_int(out, run.ended_at_ms);
  out += ", \"calls\": [";
  bool first_call = true;
  for (const CallRecord& call : run.calls) {
    if (!first_call) out += ", ";
    first_call = false;
    out += "{\"kind\": ";
    json_text::append_string(out, call.kind);
    out += ", \"path\": [";
    for (std::size_t i = 0; i < call.path.size(); ++i) {
      if (i > 0) out += ", ";
      json_text::append_string(out, call.path[i]);
    }
    out += "], \"call_index\": ";
    if (call.call_index) {
      json_text::append_uint(out, *call.call_index);
    } else {
      out += "null";
    }
    out += ", \"started_at_ms\": ";
    json_text::append_int(out, call.started_at_ms);
    out += ", \"ended_at_ms\": ";
    append_optional_int(out, call.ended_at_ms);
    out += ", \"output_tokens\": ";
    if (call.output_tokens) {
      json_text::append_uint(out, *call.output_tokens);
    } else {
      out += "null";
    }
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
