// Row-wise kernels of the Qwen3 forward pass, on contiguous f32 arrays.
#pragma once

#include <cstddef>

namespace qguard::kernels {

float dot(const float* a, const float* b, std::size_t n);

// out = x / sqrt(mean(x²) + eps) * weight, over n elements; out may alias x.
void rmsnorm(const float* x, const float* weight, std::size_t n, float eps, float* out);

// "Rotate half" RoPE on one head vector of size 2*half, in place, with that position's cos/sin.
void rope(float* z, const float* cos, const float* sin, std::size_t half);

// In place: x = exp(x - max) / sum.
void softmax(float* x, std::size_t n);

// gate[i] = silu(gate[i]) * up[i].
void silu_mul(float* gate, const float* up, std::size_t n);

}  // namespace qguard::kernels
