#include "learning/engine/learner.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "learning/trie/lookup.hpp"
#include "learning/trie/nat_json.hpp"

using namespace augur;
using namespace augur::learning;
using namespace std::chrono_literals;

namespace {

LearnerOptions learning_config() {
  LearnerOptions cfg;
  cfg.rebuild_runs = 1;
  cfg.rebuild_interval = std::chrono::hours(1);
  cfg.queue_capacity = 1024;
  return cfg;
}

// One run of three calls on "agent" producing 100, 200 and 300 tokens, 50 ms apart; the hints
// injected were the static defaults (512 output tokens).
void submit_run(Learner& l, const std::string& id, std::int64_t t0) {
  for (std::uint32_t i = 1; i <= 3; ++i) {
    CallObservation c;
    c.run_id = id;
    c.run_id_from_client = true;
    c.run_end = i == 3;
    c.path = {"agent"};
    c.call_index = i;
    c.started_at_ms = t0 + (i - 1) * 150;
    c.ended_at_ms = c.started_at_ms + 100;
    c.output_tokens = 100 * i;
    c.status = 200;
    c.hints.osl = 512;
    c.hints.remaining = 9;
    c.hints.iat_ms = 250;
    REQUIRE(l.submit(std::move(c)));
  }
}

struct Published {
  std::mutex m;
  std::shared_ptr<const trie::Trie> last;
  int count = 0;
  Learner::Publish sink() {
    return [this](std::shared_ptr<const trie::Trie> t) {
      std::lock_guard lock(m);
      last = std::move(t);
      ++count;
    };
  }
};

const trie::Prediction& predict_agent(const trie::Trie& t, std::uint32_t index) {
  const std::string_view path[] = {"agent"};
  static trie::Prediction p;
  p = *trie::lookup(t, path, index)->prediction;
  return p;
}

std::filesystem::path temp_file(const char* name) {
  auto p = std::filesystem::temp_directory_path() /
           (std::string("augur-learner-") + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + ".corrupt");
  return p;
}

}  // namespace

TEST_CASE("closed runs are learned and the rebuilt trie is published") {
  Published out;
  Learner l(learning_config(), out.sink());
  for (int r = 0; r < 3; ++r) submit_run(l, "run" + std::to_string(r), 1'000'000 + r * 10'000);
  l.step(Learner::Clock::now());
  REQUIRE(out.last);
  CHECK(l.stats().runs_completed == 3);
  CHECK(l.stats().trie_version >= 1);
  CHECK(l.trie() == out.last);

  const auto& second = predict_agent(*out.last, 2);
  CHECK(second.remaining_calls.mean == doctest::Approx(1));
  CHECK(second.output_tokens.p90 == doctest::Approx(200).epsilon(0.02));
  CHECK(second.interarrival_ms.mean == doctest::Approx(50));
  CHECK(predict_agent(*out.last, 3).remaining_calls.mean == doctest::Approx(0));
}

TEST_CASE("the error of what was injected is measured per hint and source") {
  Learner l(learning_config(), {});
  submit_run(l, "r", 0);
  l.step(Learner::Clock::now());
  const auto& tokens = l.stats().prediction_error[static_cast<int>(Hint::output_tokens)]
                                                 [static_cast<int>(trie::Source::static_fallback)];
  CHECK(tokens.count() == 3);
  const double expected = std::log(513.0 / 101) + std::log(513.0 / 201) + std::log(513.0 / 301);
  CHECK(tokens.sum() == doctest::Approx(expected));
  const auto& remaining =
      l.stats().prediction_error[static_cast<int>(Hint::remaining_calls)]
                                [static_cast<int>(trie::Source::static_fallback)];
  CHECK(remaining.count() == 3);
  // The last call has no next call: no interarrival sample.
  CHECK(l.stats()
            .prediction_error[static_cast<int>(Hint::interarrival_ms)]
                             [static_cast<int>(trie::Source::static_fallback)]
            .count() == 2);
}

TEST_CASE("a full queue drops and counts instead of blocking") {
  auto cfg = learning_config();
  cfg.queue_capacity = 2;
  Learner l(cfg, {});
  int accepted = 0;
  for (int i = 0; i < 5; ++i) {
    CallObservation c;
    accepted += l.submit(std::move(c)) ? 1 : 0;
  }
  CHECK(accepted == 2);
  CHECK(l.stats().observations_dropped == 3);
}

TEST_CASE("the snapshot file carries learning across a restart") {
  const auto file = temp_file("snapshot");
  auto cfg = learning_config();
  cfg.store.snapshot_file = file.string();
  {
    Learner l(cfg, {});
    l.start();
    submit_run(l, "a", 0);
    submit_run(l, "b", 10'000);
    l.stop();  // processes what is queued, then saves
  }
  REQUIRE(std::filesystem::exists(file));
  Published out;
  Learner again(cfg, out.sink());
  again.start();  // publishes the resumed trie before returning
  REQUIRE(out.last);
  CHECK(predict_agent(*out.last, 1).remaining_calls.mean == doctest::Approx(2));
  CHECK(predict_agent(*out.last, 1).remaining_calls.sample_count == 2);
  again.stop();
  std::filesystem::remove(file);
}

TEST_CASE("a corrupt snapshot is moved aside and learning starts empty") {
  const auto file = temp_file("corrupt");
  auto cfg = learning_config();
  cfg.store.snapshot_file = file.string();
  std::ofstream(file) << "{ not a snapshot";
  Published out;
  Learner l(cfg, out.sink());
  l.start();
  CHECK_FALSE(out.last);
  CHECK(std::filesystem::exists(file.string() + ".corrupt"));
  l.stop();
  std::filesystem::remove(file.string() + ".corrupt");
  std::filesystem::remove(file);
}

TEST_CASE("distinct paths from a misbehaving client stay within the bounds; stats say so") {
  auto cfg = learning_config();
  cfg.rebuild_runs = 0;
  cfg.rebuild_interval = std::chrono::milliseconds(1);
  cfg.queue_capacity = 4096;
  cfg.limits.max_paths = 4;
  cfg.limits.min_path_samples = 2;
  Published out;
  Learner l(cfg, out.sink());
  for (int r = 0; r < 5; ++r) submit_run(l, "real" + std::to_string(r), 1'000'000 + r * 10'000);
  for (int id = 0; id < 600; ++id) {
    CallObservation c;
    c.run_id = "junk" + std::to_string(id);
    c.run_id_from_client = true;
    c.run_end = true;
    c.path = {"agent", "req-" + std::to_string(id / 2)};  // each path twice: admitted
    c.call_index = 1;
    c.started_at_ms = 2'000'000 + id * 10;
    c.ended_at_ms = c.started_at_ms + 5;
    c.output_tokens = 7;
    c.status = 200;
    REQUIRE(l.submit(std::move(c)));
  }
  l.step(Learner::Clock::now() + std::chrono::seconds(1));
  REQUIRE(out.last);
  const auto& s = l.stats();
  CHECK(s.trie_paths <= 4);
  CHECK(trie::count_nodes(*out.last) <= 5);
  CHECK(s.evicted[static_cast<std::size_t>(trie::Eviction::capacity)] > 250);
  CHECK(s.trie_bytes == trie::serialize_trie(*out.last).size());
  // The real agent keeps its exact predictions.
  CHECK(predict_agent(*out.last, 3).output_tokens.p90 == doctest::Approx(300));
}
