// The conversation reader behind RequestInfo::conversation (request_info.cpp calls it on the
// parsed body). Internal to augur_context: it speaks simdjson's DOM.
#pragma once

#include <simdjson.h>

#include <span>

#include "proxy/context/request_info.hpp"

namespace augur::proxy {

// Fills `out` from the body's top-level object: the message list (`messages`, or Responses'
// `input` list or string), the system prompt (system/developer messages, Messages' `system`,
// Responses' `instructions`) and the tool names (`tools[].name` or `tools[].function.name`).
// Elements of unexpected shapes are hashed as they are and never fail the read.
void read_conversation(simdjson::dom::object root, std::span<const AgentRule> rules,
                       ConversationShape& out);

}  // namespace augur::proxy
