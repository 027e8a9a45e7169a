// What a camera's MQTT link has to publish, kept while the broker is away. Messages wait here
// until they are handed to the MQTT client, which is done only while connected and at most
// kInFlight at a time (the client's own window, whose QoS 1 acknowledgements free it), so each
// message is handed over exactly once: after a reconnection the waiting messages go out in
// order, and only a message whose acknowledgement was lost with the connection is sent again
// by the client (marked DUP, as QoS 1 does). The wait is bounded: a retained message replaces
// a waiting one of the same topic (a status: only the newest matters), and when `capacity`
// messages wait the oldest is dropped and counted. Pure logic, not thread-safe (the link
// locks it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>

namespace llamavid::monitor {

struct Outgoing {
  std::string topic;
  std::string payload;
  bool retain = false;
};

class DeliveryQueue {
 public:
  static constexpr size_t kDefaultCapacity = 1000;
  static constexpr size_t kInFlight = 20;

  explicit DeliveryQueue(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  void push(Outgoing message);
  // The oldest waiting message when the in-flight window has room; it leaves the queue (the
  // caller hands it over and reports its id with handed_over).
  std::optional<Outgoing> next();
  // The message taken by next() is in flight under the client's message id `mid`.
  void handed_over(int mid) { in_flight_.insert(mid); }
  // The message taken by next() could not be handed over: it goes back to the front.
  void put_back(Outgoing message) { waiting_.push_front(std::move(message)); }
  // The broker acknowledged message `mid`.
  void acknowledged(int mid) { in_flight_.erase(mid); }

  size_t waiting() const { return waiting_.size(); }
  size_t in_flight() const { return in_flight_.size(); }
  uint64_t dropped() const { return dropped_; }

 private:
  size_t capacity_;
  std::deque<Outgoing> waiting_;
  std::set<int> in_flight_;
  uint64_t dropped_ = 0;
};

}  // namespace llamavid::monitor
