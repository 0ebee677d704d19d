#include "proxy/http/dialect.hpp"

namespace augur::proxy {

Dialect dialect_of(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const auto ends_with = [&](std::string_view tail) {
    return path.size() >= tail.size() && path.substr(path.size() - tail.size()) == tail;
  };
  if (ends_with("/chat/completions")) return Dialect::chat_completions;
  if (ends_with("/v1/completions") || path == "/completions") return Dialect::completions;
  if (ends_with("/v1/responses") || path == "/responses") return Dialect::responses;
  if (ends_with("/v1/messages") || path == "/messages") return Dialect::messages;
  return Dialect::none;
}

}  // namespace augur::proxy
