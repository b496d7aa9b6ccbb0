// Which of the kernel builds this CPU can run. The library holds one build of the hot kernels per
// target (see dispatch.hpp); the best one the CPU and its operating system support is chosen once,
// at first use, and QGUARD_CPU=baseline|avx2|avx512|avx512bf16|amx in the environment caps the choice.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace qguard::kernels {

// Ordered: each target's instructions include the previous one's.
enum class Target {
  kBaseline,    // x86-64 (SSE2): any 64-bit x86 CPU
  kAvx2,        // AVX2 + FMA + F16C (x86-64-v3: Haswell, Zen 1 and later)
  kAvx512,      // AVX-512 F/CD/BW/DQ/VL + VNNI (x86-64-v4 + VNNI: Ice Lake, Sapphire Rapids, Zen 4 and later)
  kAvx512Bf16,  // ... + AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen 4 and later)
  kAmx,         // ... + AMX-TILE/AMX-INT8/AMX-BF16 granted by the OS (Sapphire Rapids and later Xeons)
};

std::string_view to_string(Target target);
std::optional<Target> parse_target(std::string_view name);

// The best target this CPU and OS support (CPUID and the OS-enabled register state, XGETBV).
Target detected_target();

// detected_target(), capped by QGUARD_CPU when set; decided once per process. A QGUARD_CPU that
// names no target is an Error(kInvalidArgument) from the first kernel call that needs the choice.
Target active_target();

// Every target this CPU can run, baseline first: what the kernel tests compare against scalar code.
std::vector<Target> runnable_targets();

}  // namespace qguard::kernels
