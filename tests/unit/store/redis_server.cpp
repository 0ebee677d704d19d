#include "redis_server.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "learning/store/redis_connection.hpp"

namespace augur::store::testing {

namespace {

// The store's hiredis writes with write(2): a server killed under it must not kill the test.
const bool kSigpipeIgnored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

bool answers_ping(std::uint16_t port) {
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeval{0, 200'000});
  bool ok = false;
  if (c != nullptr && c->err == 0) {
    redisSetTimeout(c, timeval{0, 500'000});
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r != nullptr && r->type == REDIS_REPLY_STATUS && std::string_view(r->str) == "PONG";
    if (r != nullptr) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
  return ok;
}

}  // namespace

std::uint16_t free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (s >= 0) close(s);
    throw std::runtime_error("free_port: cannot bind a loopback socket");
  }
  close(s);
  return ntohs(addr.sin_port);
}

RedisOptions test_options(const std::string& url, std::string replica, std::string ns) {
  RedisOptions o;
  o.url = url;
  o.ns = std::move(ns);
  o.replica = std::move(replica);
  o.backoff_initial = std::chrono::milliseconds(20);
  o.backoff_max = std::chrono::milliseconds(200);
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

RedisServer::RedisServer(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  (void)kSigpipeIgnored;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (try_start()) return;
  }
  throw std::runtime_error("redis-server did not start (is it installed?)");
}

RedisServer::~RedisServer() { kill(); }

void RedisServer::start() {
  if (!try_start())
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

bool RedisServer::try_start() {
  std::vector<std::string> args = {
      "redis-server", "--port", std::to_string(port_),    "--bind", "127.0.0.1", "--save", "",
      "--appendonly", "no",     "--enable-debug-command", "yes",    "--dir",     "/tmp"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  const auto start = std::chrono::steady_clock::now();
  while (seconds_since(start) < 10) {
    if (answers_ping(port_)) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: e.g. the port was taken meanwhile
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill();
  return false;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

RawClient::RawClient(std::uint16_t port) {
  c_ = redisConnectWithTimeout("127.0.0.1", port, timeval{2, 0});
  if (c_ == nullptr || c_->err != 0) {
    const std::string why = c_ != nullptr ? c_->errstr : "out of memory";
    if (c_ != nullptr) redisFree(c_);
    throw std::runtime_error("RawClient: " + why);
  }
  redisSetTimeout(c_, timeval{10, 0});
}

RawClient::~RawClient() { redisFree(c_); }

void RawClient::send(std::initializer_list<std::string_view> args) {
  if (!detail::append_command(*c_, std::span(args.begin(), args.size())) ||
      !detail::flush_output(*c_))
    throw std::runtime_error(std::string("RawClient: ") + c_->errstr);
}

void RawClient::read_replies(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) read_reply();
}

std::string RawClient::run(std::initializer_list<std::string_view> args) {
  send(args);
  return read_reply();
}

std::string RawClient::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(c_, &raw) != REDIS_OK || raw == nullptr)
    throw std::runtime_error(std::string("RawClient: ") + c_->errstr);
  auto* r = static_cast<redisReply*>(raw);
  std::string out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out = std::to_string(r->integer);
      break;
    case REDIS_REPLY_NIL:
      out = "(nil)";
      break;
    case REDIS_REPLY_ARRAY:
      out = std::to_string(r->elements);
      break;
    default: {
      const std::string error(r->str, r->len);
      freeReplyObject(r);
      throw std::runtime_error("RawClient: " + error);
    }
  }
  freeReplyObject(r);
  return out;
}

}  // namespace augur::store::testing
