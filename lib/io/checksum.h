// FNV-1a, 64 bit: the checksum of a memory file's tensor data and the hash behind a model's
// identity. Not cryptographic: it tells corruption and the wrong model apart, nothing more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <torch/types.h>

namespace llamavid {

inline constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

// `size` bytes at `data`, continued from h.
uint64_t fnv1a(uint64_t h, const void* data, size_t size);
// The characters of `s` and its terminating NUL (so "ab","c" and "a","bc" differ).
uint64_t fnv1a(uint64_t h, const std::string& s);
// The bytes of t's CPU contiguous copy.
uint64_t fnv1a(uint64_t h, const torch::Tensor& t);
// 16 lower-case hex digits.
std::string hex64(uint64_t v);

}  // namespace llamavid
