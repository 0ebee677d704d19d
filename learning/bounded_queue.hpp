// A bounded multi-producer multi-consumer queue (Vyukov's array queue), shared by the learning
// thread's observation queue and SONA's trajectory buffer: a push never blocks and never allocates;
// when the queue is full it fails, leaves the value with the caller and counts the drop.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace augur::learning {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity)
      : capacity_(capacity == 0 ? 1 : capacity), slots_(new Slot[capacity_]) {
    for (std::size_t i = 0; i < capacity_; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  }

  // Thread-safe, lock-free. Returns false (and counts a drop) when full; `item` is moved from
  // only when it was queued.
  bool try_push(T&& item) {
    seen_.fetch_add(1, std::memory_order_relaxed);
    std::size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& s = slots_[pos % capacity_];
      const std::size_t seq = s.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          s.value = std::move(item);
          s.seq.store(pos + 1, std::memory_order_release);
          prefetch_for_write(slots_[(pos + 1) % capacity_]);
          return true;
        }
      } else if (diff < 0) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  // Thread-safe, lock-free. nullopt when empty.
  std::optional<T> try_pop() {
    std::size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Slot& s = slots_[pos % capacity_];
      const std::size_t seq = s.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::ptrdiff_t>(seq) - static_cast<std::ptrdiff_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          std::optional<T> out(std::move(s.value));
          s.seq.store(pos + capacity_, std::memory_order_release);
          return out;
        }
      } else if (diff < 0) {
        return std::nullopt;
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // Pops everything available now (at most `limit`) into `out`.
  std::size_t drain(std::vector<T>& out, std::size_t limit = SIZE_MAX) {
    std::size_t n = 0;
    while (n < limit) {
      auto v = try_pop();
      if (!v) break;
      out.push_back(std::move(*v));
      ++n;
    }
    return n;
  }

  std::size_t capacity() const noexcept { return capacity_; }
  // Approximate under concurrency.
  std::size_t size() const noexcept {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    const std::size_t h = head_.load(std::memory_order_relaxed);
    return t >= h ? t - h : 0;
  }
  std::uint64_t seen() const noexcept { return seen_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::atomic<std::size_t> seq;
    T value;
  };
  // The consumer, on another core, last wrote the next slot (it moved the value out): its cache
  // lines sit in that core's cache, and the next push would stall on each of them in turn. Asking
  // for them now, right after this push, lets the transfer happen while the producer does other
  // work (with the learner's queue, a request's worth of proxying).
  static void prefetch_for_write(const Slot& s) {
    const auto* p = reinterpret_cast<const char*>(&s);
    for (std::size_t off = 0; off < sizeof(Slot); off += 64) {
#if defined(__x86_64__)
      // PREFETCHW (every x86-64 CPU since 2014 has it; older ones run it as a no-op) asks for the
      // line to write; __builtin_prefetch only emits it when the whole build targets PRFCHW.
      asm volatile("prefetchw %0" : : "m"(p[off]));
#else
      __builtin_prefetch(p + off, 1);
#endif
    }
  }
  const std::size_t capacity_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  alignas(64) std::atomic<std::uint64_t> seen_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace augur::learning
