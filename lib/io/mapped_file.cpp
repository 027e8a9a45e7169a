#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace llamavid {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: a FIFO given as a weights file must not wait for a writer (it is refused just
  // below); regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read " + path + ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* data = nullptr;
  // mmap rejects zero-length mappings; an empty file is left for the format checks to reject.
  if (size > 0) {
    data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error("cannot map " + path + ": " + std::strerror(err));
    }
  }
  ::close(fd);
  return std::shared_ptr<MappedFile>(new MappedFile(path, static_cast<uint8_t*>(data), size));
}

MappedFile::MappedFile(std::string path, uint8_t* data, size_t size)
    : path_(std::move(path)), data_(data), size_(size) {}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

torch::Tensor tensor_from_mapping(const std::shared_ptr<MappedFile>& file, size_t offset,
                                  at::IntArrayRef sizes, at::ScalarType dtype) {
  auto options = torch::TensorOptions().dtype(dtype).device(torch::kCPU);
  size_t itemsize = c10::elementSize(dtype);
  int64_t numel = c10::multiply_integers(sizes);
  if (numel == 0) return torch::empty(sizes, options);
  // The mapping is copy-on-write, so handing out a writable pointer never reaches the file.
  void* ptr = const_cast<uint8_t*>(file->data()) + offset;
  if (reinterpret_cast<uintptr_t>(ptr) % itemsize != 0) {
    torch::Tensor out = torch::empty(sizes, options);
    std::memcpy(out.data_ptr(), ptr, static_cast<size_t>(numel) * itemsize);
    return out;
  }
  std::shared_ptr<MappedFile> keep = file;
  return torch::from_blob(
      ptr, sizes, [keep](void*) {}, options);
}

}  // namespace llamavid
