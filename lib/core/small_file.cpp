#include "core/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace llamavid {

namespace {

// Closes the descriptor however the read ends.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string read_small_file(const std::string& path, uint64_t limit, const std::string& what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); regular files
  // ignore the flag.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0)
    throw Error(path + ": cannot open " + what + " (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(path + ": " + what + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limit)
    throw Error(path + ": " + what + " has " + std::to_string(st.st_size) +
                " bytes, more than the " + std::to_string(limit) + " such a file may have");
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(path + ": cannot read " + what + " (" + std::strerror(errno) + ")");
    if (n == 0) break;  // shrank while read: what is there
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace llamavid
