#include "fuzz_util.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/default_model.h"

namespace llamavid::fuzz {

MemoryFile::MemoryFile(const uint8_t* data, size_t size) {
  fd_ = memfd_create("llamavid-fuzz", MFD_CLOEXEC);
  if (fd_ < 0) fail("memfd_create failed");
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd_, data + done, size - done);
    if (n <= 0) fail("writing the memfd failed");
    done += static_cast<size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

MemoryFile::~MemoryFile() { ::close(fd_); }

std::string model_dir() {
  if (const char* env = std::getenv("LLAMAVID_FUZZ_MODEL"); env && *env) return env;
  return default_model_dir();
}

std::string model_file(const char* env, const std::string& name) {
  if (const char* value = std::getenv(env); value && *value) return value;
  return model_dir() + "/" + name;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace llamavid::fuzz
