// The check NVIDIA Dynamo's frontend (v1.3.0 and later) makes of a request's `nvext` member,
// reproduced for the mock upstream: serde `deny_unknown_fields` on NvExt, AgentHints and their
// nested structs, Rust's integer ranges, no repeated fields. Dynamo answers 400 with the serde_json
// error text; these functions produce that text, position suffix included, for the same bodies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace augur::mock {

struct RequestFields;

// serde_json's error for the first thing in the body's top-level `nvext` member(s) Dynamo would
// refuse ("unknown field `prefix_id`, expected one of ... at line 1 column 57"), or nullopt when
// Dynamo would accept them or there is none. Only nvext is checked: the rest of the body is
// assumed to be what Dynamo expects. Scans the body first. Thread-safe (pure).
std::optional<std::string> dynamo_nvext_error(std::string_view body);

// The same from a scan already made: `fields` must be scan_request(body).
std::optional<std::string> dynamo_nvext_error(std::string_view body, const RequestFields& fields);

// Decodes the contents of a JSON string as serde_json does (escapes resolved, surrogate pairs
// joined). `quoted` starts after the opening quote and ends with the closing one. Returns false on
// a bad escape or a missing closing quote. Thread-safe.
bool decode_json_string(std::string_view quoted, std::string& out);

}  // namespace augur::mock
