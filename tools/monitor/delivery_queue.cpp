#include "delivery_queue.h"

#include <algorithm>

namespace llamavid::monitor {

void DeliveryQueue::push(Outgoing message) {
  if (message.retain) {
    auto same = std::find_if(waiting_.begin(), waiting_.end(), [&](const Outgoing& w) {
      return w.retain && w.topic == message.topic;
    });
    if (same != waiting_.end()) {
      *same = std::move(message);
      return;
    }
  }
  if (capacity_ == 0) {
    ++dropped_;
    return;
  }
  if (waiting_.size() >= capacity_) {
    waiting_.pop_front();
    ++dropped_;
  }
  waiting_.push_back(std::move(message));
}

std::optional<Outgoing> DeliveryQueue::next() {
  if (waiting_.empty() || in_flight_.size() >= kInFlight) return std::nullopt;
  Outgoing m = std::move(waiting_.front());
  waiting_.pop_front();
  return m;
}

}  // namespace llamavid::monitor
