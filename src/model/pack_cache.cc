#include "model/pack_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "io/descriptor.hpp"
#include "qguard/error.hpp"

namespace qguard::model {
namespace {

// Layout: magic, u64 key size, key, u64 count, count × {u64 offset, u64 size}, then each matrix
// at a kAlignment-aligned offset. Integers are little-endian (x86-64 only, like the kernels).
constexpr char kMagic[8] = {'Q', 'G', 'P', 'A', 'C', 'K', '0', '1'};
constexpr std::uint64_t kAlignment = 4096;

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

std::uint64_t align_up(std::uint64_t offset) { return (offset + kAlignment - 1) / kAlignment * kAlignment; }

std::uint64_t header_size(std::size_t key_size, std::size_t count) { return 8 + 8 + key_size + 8 + 16 * count; }

// Bounds-checked little-endian reads from the file's header.
struct Reader {
  std::span<const std::byte> header;
  std::uint64_t at = 0;

  bool u64(std::uint64_t& out) {
    if (header.size() < 8 || at > header.size() - 8) return false;
    std::memcpy(&out, header.data() + at, 8);
    at += 8;
    return true;
  }
};

// Reads `n` bytes at `offset` of `fd` into `out`; false at the end of the file or on an error.
bool read_exactly(int fd, std::byte* out, std::uint64_t n, std::uint64_t offset) {
  while (n > 0) {
    const ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<std::uint64_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

}  // namespace

PackCache::PackCache(const std::filesystem::path& dir, const io::Checkpoint& checkpoint,
                     std::span<const PackedTensor> tensors)
    : dir_(dir) {
  std::error_code error;
  key_ = fmt::format("qguard pack cache 2\nlayout {} block {}\n", kernels::packed_layout(),
                     kernels::kInt8Block);
  std::vector<std::filesystem::path> files;
  for (const io::MappedFile& file : checkpoint.files()) files.push_back(file.path());
  // A sharded checkpoint's index decides which bytes are which tensor.
  const auto index = checkpoint.files().front().path().parent_path() / "model.safetensors.index.json";
  if (std::filesystem::exists(index, error)) files.push_back(index);
  for (const std::filesystem::path& file : files) {
    const auto absolute = std::filesystem::absolute(file, error);
    const auto size = std::filesystem::file_size(file, error);
    const auto modified = std::filesystem::last_write_time(file, error).time_since_epoch().count();
    key_ += fmt::format("file {} {} {}\n", absolute.string(), size, modified);
  }
  for (const PackedTensor& t : tensors) {
    key_ += fmt::format("tensor {} {} {} {}\n", t.name, kernels::packing_name(t.packing), t.tensor->shape[0],
                        t.tensor->shape[1]);
  }
  path_ = dir_ / fmt::format("qguard-{:016x}.pack", fnv1a(key_));
}

kernels::PanelStorage PackCache::read(std::span<const PackedTensor> tensors, kernels::ThreadPool& pool) const {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  const io::DescriptorCloser closer{fd};
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) return nullptr;
  const auto file_size = static_cast<std::uint64_t>(status.st_size);

  // The header this key's file starts with (its size follows from the key and the matrix count).
  std::vector<std::byte> header(header_size(key_.size(), tensors.size()));
  if (!read_exactly(fd, header.data(), header.size(), 0)) return nullptr;
  if (std::memcmp(header.data(), kMagic, sizeof kMagic) != 0) return nullptr;
  Reader in{header, sizeof kMagic};
  std::uint64_t key_size = 0, count = 0;
  if (!in.u64(key_size) || key_size != key_.size()) return nullptr;
  if (std::memcmp(header.data() + in.at, key_.data(), key_.size()) != 0) return nullptr;
  in.at += key_size;
  if (!in.u64(count) || count != tensors.size()) return nullptr;

  std::vector<std::uint64_t> offsets;
  std::uint64_t end = header.size();
  for (const PackedTensor& t : tensors) {
    std::uint64_t offset = 0, size = 0;
    if (!in.u64(offset) || !in.u64(size)) return nullptr;
    const auto rows = static_cast<int>(t.tensor->shape[0]), cols = static_cast<int>(t.tensor->shape[1]);
    const bool fits = offset % kAlignment == 0 && offset >= end &&
                      size == kernels::packed_bytes(t.packing, rows, cols) && offset <= file_size &&
                      size <= file_size - offset;
    if (!fits) return nullptr;
    offsets.push_back(offset);
    end = offset + size;
  }

  // Read into huge pages (allocate_panels), 2 MiB per task, not mapped: the file's 4 KiB pages made
  // int8 labels ~7 % slower on a Zen 5 guest (docs/model.md).
  const std::uint64_t first = offsets.front(), bytes = end - first;
  kernels::PanelStorage storage = kernels::allocate_panels(bytes);
  constexpr std::uint64_t kChunk = 2 << 20;
  std::atomic<bool> complete = true;
  pool.parallel_for((bytes + kChunk - 1) / kChunk, [&](std::size_t i) {
    const std::uint64_t at = i * kChunk;
    if (!read_exactly(fd, storage.get() + at, std::min(kChunk, bytes - at), first + at)) complete = false;
  });
  if (!complete) return nullptr;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const PackedTensor& t = tensors[i];
    *t.target = kernels::borrow_packed(t.packing, static_cast<int>(t.tensor->shape[0]),
                                       static_cast<int>(t.tensor->shape[1]), storage.get() + (offsets[i] - first));
  }
  return storage;
}

std::optional<std::string> PackCache::write(std::span<const PackedTensor> tensors) const {
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) return fmt::format("cannot create {}: {}", dir_.string(), error.message());
  const std::filesystem::path temporary = path_.string() + fmt::format(".tmp{}", ::getpid());

  std::vector<std::uint64_t> offsets;
  std::uint64_t end = header_size(key_.size(), tensors.size());
  for (const PackedTensor& t : tensors) {
    offsets.push_back(align_up(end));
    end = offsets.back() + t.target->bytes;
  }
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    auto put_u64 = [&](std::uint64_t value) { out.write(reinterpret_cast<const char*>(&value), 8); };
    out.write(kMagic, sizeof kMagic);
    put_u64(key_.size());
    out.write(key_.data(), static_cast<std::streamsize>(key_.size()));
    put_u64(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      put_u64(offsets[i]);
      put_u64(tensors[i].target->bytes);
    }
    for (std::size_t i = 0; i < tensors.size() && out; ++i) {
      const std::vector<char> padding(offsets[i] - static_cast<std::uint64_t>(out.tellp()), 0);
      out.write(padding.data(), static_cast<std::streamsize>(padding.size()));
      out.write(reinterpret_cast<const char*>(tensors[i].target->values),
                static_cast<std::streamsize>(tensors[i].target->bytes));
    }
    out.close();
    if (!out) {
      std::filesystem::remove(temporary, error);
      return fmt::format("cannot write {}", temporary.string());
    }
  }
  std::filesystem::rename(temporary, path_, error);
  if (error) {
    const std::string reason = fmt::format("cannot rename {}: {}", temporary.string(), error.message());
    std::filesystem::remove(temporary, error);
    return reason;
  }
  return std::nullopt;
}

}  // namespace qguard::model
