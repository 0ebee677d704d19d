// The LLM API a request speaks, from its target: what the request's body holds, what its response
// reports as usage and which events of a stream carry content.
#pragma once

#include <cstdint>
#include <string_view>

namespace augur::proxy {

// By the target path's last segments (under any base path; the query is ignored): OpenAI chat
// completions and completions, OpenAI Responses, Anthropic Messages. none for every other
// endpoint (models, embeddings, health checks...).
enum class Dialect : std::uint8_t { none, chat_completions, completions, responses, messages };
Dialect dialect_of(std::string_view target);

}  // namespace augur::proxy
