// The LLaMA key/value cache: keys and values of every decoder layer for the positions a stream
// has seen, so that each new block (a question, one generated token) only attends to them.
// Storage per layer is [B, kv_heads, capacity, head_dim]; positions [0, length()) are valid.
// Capacity grows by half (at least 16 positions) when full, or is set once with reserve, so
// appending a token rarely reallocates. One cache belongs to one stream: it is not safe to use
// from several threads.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/types.h>

namespace llamavid {

class KVCache {
 public:
  // A cache with no layers (a placeholder; storing into it is an Error).
  KVCache() = default;
  // Empty cache for `num_layers` layers of `batch` sequences; storage is allocated on the first
  // store (or reserve) with `options` (dtype and device of the model).
  KVCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t head_dim,
          const torch::TensorOptions& options);

  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  int64_t batch() const { return batch_; }
  // Positions held (the next block starts at this position).
  int64_t length() const { return length_; }
  // Positions every layer can hold without reallocating.
  int64_t capacity() const;
  // Bytes of key and value storage allocated (capacity, not length).
  int64_t bytes() const;

  // Makes room for `capacity` positions in every layer (no-op if there already is).
  void reserve(int64_t capacity);
  // Drops positions >= n (0 <= n <= length()); storage is kept for reuse.
  void truncate(int64_t n);
  // Drops every position and releases the storage.
  void clear();

  // Writes the keys and values of `layer` for positions [length(), length() + n), growing that
  // layer's storage if needed, and returns keys and values of positions [0, length() + n).
  // length() does not move until advance(n), so a failed forward leaves the cache as it was.
  // k, v [B, kv_heads, n, head_dim] -> ([B, kv_heads, length() + n, head_dim], same)
  std::pair<torch::Tensor, torch::Tensor> store(int64_t layer, const torch::Tensor& k,
                                                const torch::Tensor& v);
  // Makes the n positions just stored in every layer part of the cache.
  void advance(int64_t n);

  // Valid keys / values of `layer`. -> [B, kv_heads, length(), head_dim]
  torch::Tensor keys(int64_t layer) const;
  torch::Tensor values(int64_t layer) const;

 private:
  void check_layer(int64_t layer) const;
  void grow(int64_t layer, int64_t capacity);

  int64_t batch_ = 0;
  int64_t kv_heads_ = 0;
  int64_t head_dim_ = 0;
  torch::TensorOptions options_;
  int64_t length_ = 0;
  std::vector<torch::Tensor> keys_;    // per layer, undefined until allocated
  std::vector<torch::Tensor> values_;  // per layer, undefined until allocated
};

}  // namespace llamavid
