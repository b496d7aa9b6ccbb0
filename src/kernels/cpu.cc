#include "kernels/cpu.hpp"

#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>

#include "qguard/error.hpp"

namespace qguard::kernels {
namespace {

struct Cpuid {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Cpuid cpuid(unsigned leaf, unsigned subleaf) {
  Cpuid r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return {};
  return r;
}

constexpr Target kAllTargets[] = {Target::kBaseline, Target::kAvx2, Target::kAvx512, Target::kAvx512Bf16,
                                   Target::kAmx};

bool bit(unsigned word, int index) { return (word >> index) & 1u; }

// The register state the OS saves on a context switch (XCR0): without it, wide registers are unusable
// even when CPUID lists the instructions.
std::uint64_t os_enabled_state() {
  std::uint32_t low = 0, high = 0;
  __asm__("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (std::uint64_t{high} << 32) | low;
}

// Linux lends the 8 KiB of AMX tile registers only to a process that asks for them.
bool amx_granted() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kRequestStatePermission = 0x1023;  // ARCH_REQ_XCOMP_PERM
  constexpr long kTileDataState = 18;               // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kRequestStatePermission, kTileDataState) == 0;
#else
  return false;
#endif
}

Target detect() {
  const Cpuid leaf1 = cpuid(1, 0), leaf7 = cpuid(7, 0), leaf7_1 = cpuid(7, 1);
  if (!bit(leaf1.ecx, 27)) return Target::kBaseline;  // OSXSAVE: XGETBV usable
  const std::uint64_t state = os_enabled_state();
  const bool ymm_state = (state & 0x6) == 0x6;       // SSE + AVX registers
  const bool zmm_state = (state & 0xe6) == 0xe6;     // ... + opmask and upper ZMM registers
  const bool avx2 = bit(leaf1.ecx, 28) && bit(leaf1.ecx, 12) && bit(leaf1.ecx, 29) && bit(leaf7.ebx, 5) &&
                    bit(leaf7.ebx, 3) && bit(leaf7.ebx, 8);  // AVX, FMA, F16C, AVX2, BMI1, BMI2
  if (!avx2 || !ymm_state) return Target::kBaseline;
  const bool avx512 = bit(leaf7.ebx, 16) && bit(leaf7.ebx, 17) && bit(leaf7.ebx, 28) && bit(leaf7.ebx, 30) &&
                      bit(leaf7.ebx, 31) && bit(leaf7.ecx, 11);  // F, DQ, CD, BW, VL, VNNI
  if (!avx512 || !zmm_state) return Target::kAvx2;
  if (!bit(leaf7_1.eax, 5)) return Target::kAvx512;  // AVX512_BF16 (every AMX CPU has it)
  const bool amx = bit(leaf7.edx, 24) && bit(leaf7.edx, 25) && bit(leaf7.edx, 22);  // AMX-TILE, -INT8, -BF16
  const bool tile_state = (state & 0x60000) == 0x60000;        // tile configuration and data
  return amx && tile_state && amx_granted() ? Target::kAmx : Target::kAvx512Bf16;
}

}  // namespace

std::string_view to_string(Target target) {
  switch (target) {
    case Target::kBaseline: return "baseline";
    case Target::kAvx2: return "avx2";
    case Target::kAvx512: return "avx512";
    case Target::kAvx512Bf16: return "avx512bf16";
    case Target::kAmx: return "amx";
  }
  return "?";
}

std::optional<Target> parse_target(std::string_view name) {
  for (Target t : kAllTargets) {
    if (name == to_string(t)) return t;
  }
  return std::nullopt;
}

Target detected_target() {
  static const Target detected = detect();
  return detected;
}

Target active_target() {
  static const std::optional<Target> cap = [] () -> std::optional<Target> {
    const char* value = std::getenv("QGUARD_CPU");
    if (value == nullptr || *value == '\0') return detected_target();
    return parse_target(value);
  }();
  if (!cap) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("QGUARD_CPU='{}' names no kernel target: use baseline, avx2, avx512, avx512bf16 or amx",
                            std::getenv("QGUARD_CPU")));
  }
  return std::min(*cap, detected_target());
}

std::vector<Target> runnable_targets() {
  std::vector<Target> targets;
  for (Target t : kAllTargets) {
    if (t <= detected_target()) targets.push_back(t);
  }
  return targets;
}

}  // namespace qguard::kernels
