// KVCache: storing, growth without per-token reallocation, truncation, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "core/error.h"
#include "model/kv_cache.h"

using namespace llamavid;

namespace {

constexpr int64_t kLayers = 2, kBatch = 2, kHeads = 3, kDim = 4;

KVCache make_cache() {
  return KVCache(kLayers, kBatch, kHeads, kDim, torch::TensorOptions().dtype(torch::kFloat32));
}

// Distinct values for n positions. -> [B, H, n, D]
torch::Tensor block(int64_t n, double offset) {
  return torch::arange(kBatch * kHeads * n * kDim, torch::kFloat32)
             .reshape({kBatch, kHeads, n, kDim}) +
         offset;
}

// Stores k = block, v = -block in every layer and advances.
void append(KVCache& cache, const torch::Tensor& k) {
  for (int64_t l = 0; l < cache.num_layers(); ++l) cache.store(l, k, -k);
  cache.advance(k.size(2));
}

}  // namespace

// Stored blocks come back in order, as keys and values of every position.
TEST(KVCache, StoreReturnsAllPositions) {
  auto cache = make_cache();
  auto a = block(3, 0), b = block(2, 100);
  append(cache, a);
  auto [keys, values] = cache.store(1, b, -b);
  EXPECT_TRUE(torch::equal(keys, torch::cat({a, b}, 2)));
  EXPECT_TRUE(torch::equal(values, -torch::cat({a, b}, 2)));
}

// length() moves only on advance, so a block stored but not advanced is overwritten next time.
TEST(KVCache, LengthMovesOnlyOnAdvance) {
  auto cache = make_cache();
  append(cache, block(3, 0));
  cache.store(0, block(2, 100), block(2, 100));
  EXPECT_EQ(cache.length(), 3);
  append(cache, block(2, 200));
  EXPECT_EQ(cache.length(), 5);
  EXPECT_TRUE(torch::equal(cache.keys(0).narrow(2, 3, 2), block(2, 200)));
}

// Appending one position at a time reallocates only a logarithmic number of times and keeps
// every earlier position.
TEST(KVCache, GrowsGeometrically) {
  auto cache = make_cache();
  std::set<const void*> buffers;
  std::vector<torch::Tensor> blocks;
  for (int i = 0; i < 200; ++i) {
    blocks.push_back(block(1, 1000.0 * i));
    append(cache, blocks.back());
    buffers.insert(cache.keys(0).data_ptr());
  }
  EXPECT_EQ(cache.length(), 200);
  EXPECT_LE(buffers.size(), 10u);
  EXPECT_TRUE(torch::equal(cache.keys(1), torch::cat(blocks, 2)));
  EXPECT_TRUE(torch::equal(cache.values(0), -torch::cat(blocks, 2)));
}

// After reserve, appending up to the reserved capacity never moves the storage.
TEST(KVCache, ReserveAvoidsReallocation) {
  auto cache = make_cache();
  cache.reserve(40);
  EXPECT_EQ(cache.capacity(), 40);
  append(cache, block(1, 0));
  const void* before = cache.keys(0).data_ptr();
  for (int i = 1; i < 40; ++i) append(cache, block(1, i));
  EXPECT_EQ(cache.keys(0).data_ptr(), before);
  EXPECT_EQ(cache.capacity(), 40);
}

// truncate drops the tail; new positions are written where the dropped ones were.
TEST(KVCache, TruncateThenReextend) {
  auto cache = make_cache();
  auto a = block(4, 0);
  append(cache, a);
  append(cache, block(3, 100));
  cache.truncate(4);
  EXPECT_EQ(cache.length(), 4);
  auto c = block(2, 500);
  append(cache, c);
  EXPECT_TRUE(torch::equal(cache.keys(0), torch::cat({a, c}, 2)));
  EXPECT_TRUE(torch::equal(cache.values(1), -torch::cat({a, c}, 2)));
}

// truncate beyond the length or below zero is an Error.
TEST(KVCache, TruncateOutOfRangeThrows) {
  auto cache = make_cache();
  append(cache, block(3, 0));
  EXPECT_THROW(cache.truncate(4), Error);
  EXPECT_THROW(cache.truncate(-1), Error);
}

// clear empties the cache and releases its storage.
TEST(KVCache, ClearReleasesStorage) {
  auto cache = make_cache();
  append(cache, block(5, 0));
  EXPECT_GT(cache.bytes(), 0);
  cache.clear();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_EQ(cache.bytes(), 0);
  EXPECT_EQ(cache.keys(0).size(2), 0);
}

// bytes() counts the allocated keys and values of every layer.
TEST(KVCache, BytesCountsAllocatedStorage) {
  auto cache = make_cache();
  EXPECT_EQ(cache.bytes(), 0);
  cache.reserve(10);
  EXPECT_EQ(cache.bytes(), 2 * kLayers * kBatch * kHeads * 10 * kDim * 4);
}

// Keys of the wrong shape or dtype, or a layer out of range, are Errors naming the problem.
TEST(KVCache, StoreRejectsMismatches) {
  auto cache = make_cache();
  auto wrong_heads = torch::zeros({kBatch, kHeads + 1, 1, kDim});
  try {
    cache.store(0, wrong_heads, wrong_heads);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 4, 1, 4]"), std::string::npos) << e.what();
  }
  auto doubles = block(1, 0).to(torch::kFloat64);
  EXPECT_THROW(cache.store(0, doubles, doubles), Error);
  EXPECT_THROW(cache.store(kLayers, block(1, 0), block(1, 0)), Error);
  EXPECT_THROW(KVCache().store(0, block(1, 0), block(1, 0)), Error);
}

// advance past what was stored is an Error and leaves the length unchanged.
TEST(KVCache, AdvanceBeyondStoredThrows) {
  auto cache = make_cache();
  append(cache, block(2, 0));
  EXPECT_THROW(cache.advance(cache.capacity() + 1), Error);
  EXPECT_EQ(cache.length(), 2);
}
