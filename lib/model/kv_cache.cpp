#include "model/kv_cache.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace llamavid {

namespace {

constexpr int64_t kMinGrowth = 16;

std::string shape_string(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

KVCache::KVCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t head_dim,
                 const torch::TensorOptions& options)
    : batch_(batch),
      kv_heads_(kv_heads),
      head_dim_(head_dim),
      options_(options),
      keys_(static_cast<size_t>(num_layers)),
      values_(static_cast<size_t>(num_layers)) {
  if (num_layers < 0 || batch <= 0 || kv_heads <= 0 || head_dim <= 0)
    throw Error("KVCache: layers, batch, kv_heads and head_dim must be positive (got " +
                std::to_string(num_layers) + ", " + std::to_string(batch) + ", " +
                std::to_string(kv_heads) + ", " + std::to_string(head_dim) + ")");
}

int64_t KVCache::capacity() const {
  if (keys_.empty()) return 0;
  int64_t smallest = INT64_MAX;
  for (const auto& k : keys_) smallest = std::min<int64_t>(smallest, k.defined() ? k.size(2) : 0);
  return smallest;
}

int64_t KVCache::bytes() const {
  int64_t total = 0;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i].defined()) total += static_cast<int64_t>(keys_[i].nbytes());
    if (values_[i].defined()) total += static_cast<int64_t>(values_[i].nbytes());
  }
  return total;
}

void KVCache::grow(int64_t layer, int64_t capacity) {
  auto& k = keys_[layer];
  auto& v = values_[layer];
  auto new_k = torch::empty({batch_, kv_heads_, capacity, head_dim_}, options_);
  auto new_v = torch::empty({batch_, kv_heads_, capacity, head_dim_}, options_);
  if (k.defined() && length_ > 0) {
    new_k.narrow(2, 0, length_).copy_(k.narrow(2, 0, length_));
    new_v.narrow(2, 0, length_).copy_(v.narrow(2, 0, length_));
  }
  k = new_k;
  v = new_v;
}

void KVCache::reserve(int64_t capacity) {
  for (int64_t i = 0; i < num_layers(); ++i) {
    const auto& k = keys_[i];
    if (!k.defined() || k.size(2) < capacity) grow(i, capacity);
  }
}

void KVCache::truncate(int64_t n) {
  if (n < 0 || n > length_)
    throw Error("KVCache::truncate: " + std::to_string(n) + " is outside [0, " +
                std::to_string(length_) + "]");
  length_ = n;
}

void KVCache::clear() {
  length_ = 0;
  for (auto& k : keys_) k = torch::Tensor();
  for (auto& v : values_) v = torch::Tensor();
}

void KVCache::check_layer(int64_t layer) const {
  if (layer < 0 || layer >= num_layers())
    throw Error("KVCache: layer " + std::to_string(layer) + " is outside [0, " +
                std::to_string(num_layers()) + ")");
}

std::pair<torch::Tensor, torch::Tensor> KVCache::store(int64_t layer, const torch::Tensor& k,
                                                       const torch::Tensor& v) {
  check_layer(layer);
  const bool shape_ok = k.dim() == 4 && k.size(0) == batch_ && k.size(1) == kv_heads_ &&
                        k.size(3) == head_dim_ && v.sizes() == k.sizes();
  if (!shape_ok)
    throw Error("KVCache::store: keys " + shape_string(k) + " and values " + shape_string(v) +
                " must both be [" + std::to_string(batch_) + ", " + std::to_string(kv_heads_) +
                ", n, " + std::to_string(head_dim_) + "]");
  if (k.scalar_type() != options_.dtype().toScalarType() ||
      v.scalar_type() != k.scalar_type() || k.device() != options_.device())
    throw Error("KVCache::store: keys/values must have the cache's dtype and device (" +
                std::string(c10::toString(options_.dtype().toScalarType())) + " on " +
                options_.device().str() + "), got " + c10::toString(k.scalar_type()) + " on " +
                k.device().str());

  const int64_t n = k.size(2);
  const int64_t needed = length_ + n;
  auto& keys = keys_[layer];
  const int64_t have = keys.defined() ? keys.size(2) : 0;
  // Grow by half (at least kMinGrowth positions) so appends reallocate O(log n) times.
  if (have < needed) grow(layer, std::max(needed, have + std::max(have / 2, kMinGrowth)));

  keys_[layer].narrow(2, length_, n).copy_(k);
  values_[layer].narrow(2, length_, n).copy_(v);
  return {keys_[layer].narrow(2, 0, needed), values_[layer].narrow(2, 0, needed)};
}

void KVCache::advance(int64_t n) {
  if (n < 0 || length_ + n > capacity())
    throw Error("KVCache::advance: " + std::to_string(n) + " positions were not stored in " +
                "every layer (length " + std::to_string(length_) + ", capacity " +
                std::to_string(capacity()) + ")");
  length_ += n;
}

torch::Tensor KVCache::keys(int64_t layer) const {
  check_layer(layer);
  if (!keys_[layer].defined())
    return torch::empty({batch_, kv_heads_, 0, head_dim_}, options_);
  return keys_[layer].narrow(2, 0, length_);
}

torch::Tensor KVCache::values(int64_t layer) const {
  check_layer(layer);
  if (!values_[layer].defined())
    return torch::empty({batch_, kv_heads_, 0, head_dim_}, options_);
  return values_[layer].narrow(2, 0, length_);
}

}  // namespace llamavid
