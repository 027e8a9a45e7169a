#include "io/checksum.h"

#include <cstdio>

namespace llamavid {

uint64_t fnv1a(uint64_t h, const void* data, size_t size) {
  constexpr uint64_t kFnvPrime = 1099511628211ULL;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

uint64_t fnv1a(uint64_t h, const std::string& s) { return fnv1a(h, s.data(), s.size() + 1); }

uint64_t fnv1a(uint64_t h, const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU).contiguous();
  return fnv1a(h, c.data_ptr(), c.nbytes());
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace llamavid
