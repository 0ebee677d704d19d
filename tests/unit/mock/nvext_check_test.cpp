// The mock upstream's copy of Dynamo's nvext check (loadtest/mock/nvext_check.hpp) as a pure
// function. Expected texts are serde_json's own, produced by deserializing the same bodies into
// Dynamo's NvExt/AgentHints types (loadtest/mock/README.md says how), positions included.
#include "loadtest/mock/nvext_check.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "loadtest/mock/request_scan.hpp"
#include "loadtest/mock/responses.hpp"

namespace {

using augur::mock::dynamo_nvext_error;

// "ok" when Dynamo would take the body, else serde_json's error.
std::string verdict(std::string_view body) { return dynamo_nvext_error(body).value_or("ok"); }

constexpr std::string_view kNvExtFields =
    "expected one of `greed_sampling`, `use_raw_prompt`, `annotations`, `backend_instance_id`, "
    "`token_data`, `max_thinking_tokens`, `cache_salt`, `extra_fields`, `metadata_upload`, "
    "`prefill_worker_id`, `decode_worker_id`, `dp_rank`, `prefill_dp_rank`, `agent_hints`, "
    "`request_timestamp_ms`, `routing_constraints`, `router`";
constexpr std::string_view kAgentHintsFields =
    "expected one of `priority`, `strict_priority`, `osl`, `speculative_prefill`, "
    "`latency_sensitivity`";

std::string unknown(std::string_view key, std::string_view fields, std::string_view where) {
  return "unknown field `" + std::string(key) + "`, " + std::string(fields) + " at " +
         std::string(where);
}

}  // namespace

TEST_CASE("bodies without a top-level nvext are not checked") {
  CHECK(verdict(R"({"model":"m","messages":[{"role":"user","content":"\"nvext\":{\"x\":1}"}]})") ==
        "ok");
  CHECK(verdict(R"({"model":"m","metadata":{"nvext":{"x":1}}})") == "ok");
  CHECK(verdict("{}") == "ok");
}

TEST_CASE("every NvExt and AgentHints field with a valid value is accepted") {
  CHECK(verdict(R"({"model":"m","nvext":{"greed_sampling":true,"use_raw_prompt":false,
    "annotations":["query_instance_id:","a"],"backend_instance_id":18446744073709551615,
    "token_data":[0,4294967295],"max_thinking_tokens":4294967295,"cache_salt":"tenant-1",
    "extra_fields":["worker_id","timing"],"metadata_upload":{"url":" http://host/up "},
    "prefill_worker_id":0,"decode_worker_id":7,"dp_rank":1,"prefill_dp_rank":2,
    "agent_hints":{"priority":-2147483648,"strict_priority":4294967295,"osl":512,
                   "speculative_prefill":true,"latency_sensitivity":-1.5e300},
    "request_timestamp_ms":1700000000000.5,
    "routing_constraints":{"required_taints":["gpu","gpu"],"preferred_taints":{"x":1e39,"x":-2}},
    "router":{"ttft_target":1,"itl_target":-0.0}},"messages":[]})") == "ok");
  CHECK(
      verdict(R"({"nvext":{"agent_hints":{"priority":2147483647,"latency_sensitivity":1e-7}}})") ==
      "ok");
  // f64 takes any JSON number, integers beyond u64 included.
  CHECK(
      verdict(
          R"({"nvext":{"agent_hints":{"latency_sensitivity":123456789012345678901234567890}}})") ==
      "ok");
  // What augur's nvext format writes for Dynamo.
  CHECK(
      verdict(R"({"nvext":{"agent_hints":{"osl":512,"priority":2,"speculative_prefill":true}}})") ==
      "ok");
}

TEST_CASE("null is an absent Option, but not a value for a defaulted or required field") {
  CHECK(verdict(R"({"nvext":null})") == "ok");
  CHECK(verdict(R"({"nvext":{"greed_sampling":null,"use_raw_prompt":null,"annotations":null,
    "backend_instance_id":null,"token_data":null,"max_thinking_tokens":null,"cache_salt":null,
    "extra_fields":null,"metadata_upload":null,"prefill_worker_id":null,"decode_worker_id":null,
    "dp_rank":null,"prefill_dp_rank":null,"agent_hints":{"priority":null,"strict_priority":null,
    "osl":null,"speculative_prefill":null,"latency_sensitivity":null},"request_timestamp_ms":null,
    "routing_constraints":null,"router":{"ttft_target":null,"itl_target":null}}})") == "ok");
  CHECK(verdict(R"({"nvext":{"routing_constraints":{"required_taints":null}}})") ==
        "invalid type: null, expected a sequence at line 1 column 55");
  CHECK(verdict(R"({"nvext":{"routing_constraints":{"preferred_taints":null}}})") ==
        "invalid type: null, expected a map at line 1 column 56");
  CHECK(verdict(R"({"nvext":{"metadata_upload":{"url":null}}})") ==
        "invalid type: null, expected a string at line 1 column 39");
  CHECK(verdict(R"({"nvext":{"token_data":[1,null]}})") ==
        "invalid type: null, expected u32 at line 1 column 30");
}

TEST_CASE("keys Dynamo removed (NAT v1.8's) are unknown fields at both levels") {
  CHECK(verdict(R"({"nvext":{"agent_hints":{"prefix_id":"run-1-d0"}}})") ==
        unknown("prefix_id", kAgentHintsFields, "line 1 column 36"));
  CHECK(verdict(R"({"nvext":{"agent_hints":{"total_requests":10}}})") ==
        unknown("total_requests", kAgentHintsFields, "line 1 column 41"));
  CHECK(verdict(R"({"nvext":{"agent_hints":{"iat":250}}})") ==
        unknown("iat", kAgentHintsFields, "line 1 column 30"));
  CHECK(verdict(R"({"nvext":{"cache_control":{"type":"ephemeral","ttl":"1s"}}})") ==
        unknown("cache_control", kNvExtFields, "line 1 column 25"));
  CHECK(verdict(R"({"nvext":{"session_control":{}}})") ==
        unknown("session_control", kNvExtFields, "line 1 column 27"));
  // An AgentHints field one level up is unknown there.
  CHECK(verdict(R"({"nvext":{"osl":1}})") == unknown("osl", kNvExtFields, "line 1 column 15"));
  // What a NAT v1.8 client sends: the first refusal, in document order, wins.
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":512,"priority":2,"latency_sensitivity":2.0,)"
                R"("prefix_id":"run-1-d0","total_requests":10,"iat":250},)"
                R"("cache_control":{"type":"ephemeral","ttl":"1s"}}})") ==
        unknown("prefix_id", kAgentHintsFields, "line 1 column 85"));
}

TEST_CASE("unknown fields of the nested structs") {
  CHECK(verdict(R"({"nvext":{"router":{"ttft_target":1,"queue":"fast"}}})") ==
        "unknown field `queue`, expected `ttft_target` or `itl_target` at line 1 column 43");
  CHECK(verdict(R"({"nvext":{"routing_constraints":{"required_taints":["gpu"],"taints":[]}}})") ==
        "unknown field `taints`, expected `required_taints` or `preferred_taints` at line 1 "
        "column 67");
  CHECK(verdict(R"({"nvext":{"metadata_upload":{"url":"http://x","token":"t"}}})") ==
        "unknown field `token`, expected `url` at line 1 column 53");
}

TEST_CASE("values of the wrong type") {
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":"512"}}})") ==
        "invalid type: string \"512\", expected u32 at line 1 column 36");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"speculative_prefill":"true"}}})") ==
        "invalid type: string \"true\", expected a boolean at line 1 column 53");
  CHECK(verdict(R"({"nvext":{"greed_sampling":1}})") ==
        "invalid type: integer `1`, expected a boolean at line 1 column 28");
  CHECK(verdict(R"({"nvext":{"cache_salt":7}})") ==
        "invalid type: integer `7`, expected a string at line 1 column 24");
  CHECK(verdict(R"({"nvext":{"annotations":"a"}})") ==
        "invalid type: string \"a\", expected a sequence at line 1 column 27");
  CHECK(verdict(R"({"nvext":{"token_data":[1,"2"]}})") ==
        "invalid type: string \"2\", expected u32 at line 1 column 29");
  CHECK(verdict(R"({"nvext":{"request_timestamp_ms":"now"}})") ==
        "invalid type: string \"now\", expected f64 at line 1 column 38");
  CHECK(verdict(R"({"nvext":{"router":{"itl_target":true}}})") ==
        "invalid type: boolean `true`, expected f64 at line 1 column 37");
  CHECK(verdict(R"({"nvext":{"routing_constraints":{"preferred_taints":{"gpu":"high"}}}})") ==
        "invalid type: string \"high\", expected f32 at line 1 column 65");
  // Rust's debug form of the string: escapes, \u{..} for controls.
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":"a\"b\n\u0001"}}})") ==
        R"(invalid type: string "a\"b\n\u{1}", expected u32 at line 1 column 45)");
}

TEST_CASE("nvext and its structs must be objects (or serde's positional arrays)") {
  CHECK(verdict(R"({"nvext":5})") ==
        "invalid type: integer `5`, expected struct NvExt at line 1 column 10");
  CHECK(verdict(R"({"nvext":"x"})") ==
        "invalid type: string \"x\", expected struct NvExt at line 1 column 12");
  // A derived struct also reads a JSON array, one element per field in declaration order.
  CHECK(verdict(R"({"nvext":[null,true]})") == "ok");
  CHECK(verdict(R"({"nvext":{"agent_hints":[]}})") == "ok");
  CHECK(verdict(R"({"nvext":[null,null,null,null,null,null,null,null,null,null,null,null,null,)"
                R"(null,null,null,null,null]})") == "trailing characters at line 1 column 96");
  CHECK(verdict(R"({"nvext":{"metadata_upload":[]}})") ==
        "invalid length 0, expected struct MetadataUpload with 1 element at line 1 column 30");
}

TEST_CASE("integers: Rust's ranges, and no floats for integer fields") {
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":4294967296}}})") ==
        "invalid value: integer `4294967296`, expected u32 at line 1 column 41");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":-1}}})") ==
        "invalid value: integer `-1`, expected u32 at line 1 column 33");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"strict_priority":-3}}})") ==
        "invalid value: integer `-3`, expected u32 at line 1 column 45");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"priority":2147483648}}})") ==
        "invalid value: integer `2147483648`, expected i32 at line 1 column 46");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"priority":-2147483649}}})") ==
        "invalid value: integer `-2147483649`, expected i32 at line 1 column 47");
  CHECK(verdict(R"({"nvext":{"backend_instance_id":-1}})") ==
        "invalid value: integer `-1`, expected u64 at line 1 column 34");
  // serde_json reads an integer beyond u64 as an f64, and -0 too.
  CHECK(verdict(R"({"nvext":{"backend_instance_id":18446744073709551616}})") ==
        "invalid type: floating point `1.8446744073709552e19`, expected u64 at line 1 column 52");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":-0}}})") ==
        "invalid type: floating point `-0.0`, expected u32 at line 1 column 33");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":5.0}}})") ==
        "invalid type: floating point `5.0`, expected u32 at line 1 column 34");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":5e2}}})") ==
        "invalid type: floating point `500.0`, expected u32 at line 1 column 34");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":5.5}}})") ==
        "invalid type: floating point `5.5`, expected u32 at line 1 column 34");
  CHECK(verdict(R"({"nvext":{"max_thinking_tokens":1.5e300}})") ==
        "invalid type: floating point `1.5e300`, expected u32 at line 1 column 39");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":1e400}}})") ==
        "number out of range at line 1 column 36");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":01}}})") == "invalid number at line 1 column 33");
}

TEST_CASE("a repeated field is an error at every level") {
  CHECK(verdict(R"({"nvext":{"dp_rank":1,"dp_rank":2}})") ==
        "duplicate field `dp_rank` at line 1 column 31");
  CHECK(verdict(R"({"nvext":{"agent_hints":{"osl":1,"osl":2}}})") ==
        "duplicate field `osl` at line 1 column 38");
  CHECK(verdict(R"({"nvext":{"agent_hints":null,"agent_hints":{}}})") ==
        "duplicate field `agent_hints` at line 1 column 42");
  CHECK(verdict(R"({"nvext":{"router":{"ttft_target":1,"ttft_target":2}}})") ==
        "duplicate field `ttft_target` at line 1 column 49");
  CHECK(verdict(R"({"nvext":{},"nvext":{}})") == "duplicate field `nvext` at line 1 column 19");
  CHECK(verdict(R"({"nvext":null , "nvext" :{}})") ==
        "duplicate field `nvext` at line 1 column 24");
  // The first member's own error comes first.
  CHECK(verdict(R"({"nvext":{"x":1},"nvext":{}})") ==
        unknown("x", kNvExtFields, "line 1 column 13"));
}

TEST_CASE("metadata_upload.url is required and must not be blank") {
  CHECK(verdict(R"({"nvext":{"metadata_upload":{"url":""}}})") ==
        "metadata_upload.url must not be empty at line 1 column 38");
  CHECK(verdict(R"({"nvext":{"metadata_upload":{"url":" \t\u00a0"}}})") ==
        "metadata_upload.url must not be empty at line 1 column 47");
  CHECK(verdict(R"({"nvext":{"metadata_upload":{}}})") ==
        "missing field `url` at line 1 column 30");
}

TEST_CASE("positions count lines and columns over the whole body; keys are unescaped") {
  CHECK(verdict(
            "{\n  \"model\": \"m\",\n  \"nvext\": {\n    \"agent_hints\": {\n      \"osl\": 512,\n"
            "      \"prefix_id\" : \"r\"\n    }\n  }\n}") ==
        unknown("prefix_id", kAgentHintsFields, "line 6 column 18"));
  CHECK(verdict(R"({"n\u0076ext":{"agent_hints":{"osl":-5}}})") ==
        "invalid value: integer `-5`, expected u32 at line 1 column 38");
  CHECK(verdict(R"({"nvext":{"cache_salt":"\x"}})") == "invalid escape at line 1 column 26");
}

TEST_CASE("the 400 body is Dynamo's ErrorMessage") {
  std::string body;
  augur::mock::append_dynamo_deserialize_error(body, "unknown field `iat`, expected \"x\"");
  CHECK(body ==
        R"({"message":"Failed to deserialize the JSON body into the target type: unknown field )"
        R"(`iat`, expected \"x\"","type":"Bad Request","code":400})");
}

TEST_CASE("decode_json_string resolves escapes as serde_json does") {
  std::string out;
  CHECK(augur::mock::decode_json_string(R"(n\u0076ext")", out));
  CHECK(out == "nvext");
  CHECK(augur::mock::decode_json_string(R"(\ud83d\ude00\/\n")", out));
  CHECK(out == "\xF0\x9F\x98\x80/\n");
  CHECK_FALSE(augur::mock::decode_json_string(R"(\ud800x")", out));
  CHECK_FALSE(augur::mock::decode_json_string(R"(abc)", out));
}
