// This target's table of kernels (dispatch.hpp), one per target build.
#include "kernels/target.hpp"

namespace qguard::kernels::QGUARD_TARGET {

#define QGUARD_STRINGIFY_(x) #x
#define QGUARD_STRINGIFY(x) QGUARD_STRINGIFY_(x)

#if defined(__AVX512F__)
#define QGUARD_INT8_INSTRUCTIONS "AVX-512 VNNI vpdpbusd (u8 activations + 128, s8 weights)"
#elif defined(__AVX2__)
#define QGUARD_INT8_INSTRUCTIONS "AVX2 vpmaddubsw + vpmaddwd (sign trick)"
#else
#define QGUARD_INT8_INSTRUCTIONS "scalar int32"
#endif

namespace {

constexpr std::string_view kPanels = QGUARD_STRINGIFY(QGUARD_TARGET) " panels v3";

// This build's table, served as `target` with its own packed products and int8 peak loop.
constexpr TargetKernels this_build(Target target, std::string_view packed_layout, std::string_view int8_instructions,
                                   decltype(TargetKernels::packed_bytes) packed_bytes,
                                   decltype(TargetKernels::pack) pack,
                                   decltype(TargetKernels::prepare_input) prepare_input,
                                   decltype(TargetKernels::matmul_packed) packed_products,
                                   decltype(TargetKernels::attention) attention,
                                   double (*int8_peak)(PeakClock::time_point)) {
  return {
      .target = target,
      .packed_layout = packed_layout,
      .int8_instructions = int8_instructions,
      .dot = dot,
      .rmsnorm = rmsnorm,
      .rope = rope,
      .softmax_numerators = softmax_numerators,
      .silu_mul = silu_mul,
      .to_bf16 = to_bf16,
      .dequantize = dequantize,
      .matmul_rows = matmul_rows,
      .matvec_rows = matvec_rows,
      .packed_bytes = packed_bytes,
      .pack = pack,
      .prepare_input = prepare_input,
      .matmul_packed = packed_products,
      .attention = attention,
      .f32_fma_ops = f32_fma_ops,
      .int8_dot_ops = int8_peak,
  };
}

}  // namespace

// Constant-initialised (function addresses and literals): usable from any static initialiser.
extern const TargetKernels kTable;
const TargetKernels kTable = this_build(Target::QGUARD_TARGET_ENUM, kPanels, QGUARD_INT8_INSTRUCTIONS, packed_bytes,
                                        pack, prepare_input, matmul_packed, attention, int8_dot_ops);

#if defined(__AVX512F__)
// Target::kAvx512Bf16: this build's kernels and packing, with the int8 weights' attention on
// vdpbf16ps (attention_bf16.cc).
extern const TargetKernels kBf16Table;
const TargetKernels kBf16Table = this_build(Target::kAvx512Bf16, kPanels, QGUARD_INT8_INSTRUCTIONS, packed_bytes, pack,
                                            prepare_input, matmul_packed, attention_avx512_bf16, int8_dot_ops);

// Target::kAmx: this build's kernels, with products of 16 tokens or more on AMX tiles: int8 ones on
// the avx512 panels, BF16 ones on panels of its own (packed_bf16_amx.cc), hence its own layout name
// in the pack cache's key.
extern const TargetKernels kAmxTable;
const TargetKernels kAmxTable =
    this_build(Target::kAmx, "avx512 panels v3, amx BF16 pair panels v1",
               "AMX tdpbssd (16 tokens and more) + AVX-512 VNNI vpdpbusd, u8 activations + 128", packed_bytes_amx,
               pack_amx, prepare_input_amx, matmul_packed_amx, attention_amx, amx_int8_dot_ops);
#endif

}  // namespace qguard::kernels::QGUARD_TARGET
