// Best match of every row and of every column of a score tile, in one pass, for
// xling's dictionary induction (self-learning, adversarial refinement).
//
// A tile s (n, m) holds cosines (or already-biased scores); the kernel folds
//
//     C[i][j] = scale * s[i][j] - x_bias[i] - z_bias[j]
//
// into running row maxima (the best column of each row) and column maxima (the
// best row of each column). Ties keep the first index: rows and columns are
// visited in increasing order and only a strictly larger score replaces a best.
//
// Stochastic dictionary induction drops each entry with probability
// 1 - keep_prob. The mask is a pure function of (key, global row, global
// column), so it is the same whatever the tiling, the thread count, the shard
// of a distributed run or the device (xling/retrieval.py computes the same bits
// with tensor arithmetic where this kernel is not used):
//
//     h_row = fmix32(key ^ fmix32(row * 0x9E3779B1 + 0x7F4A7C15))
//     bits  = fmix32(h_row + column * 0x9E3779B1) >> 16          (16 bits)
//     kept  = bits < keep_threshold                              (threshold in 1..65536)
//
// with MurmurHash3's 32-bit finaliser fmix32 and all arithmetic modulo 2^32.
// Drawing the mask this way costs a few integer operations per score, where a
// stored mask from a random generator cost more than the matrix product.
//
// Threads split the rows: each owns its rows' maxima and keeps its own column
// maxima, merged in thread order (so ties still keep the lowest row).
//
// Compiled once per instruction set (see kernels.hpp); the per-row loops are
// written so that the compiler vectorises them.

#include "kernels.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

namespace {

inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

constexpr uint32_t kGolden = 0x9E3779B1u;

struct Tile {
  const float* s;
  int64_t n, m;
  float scale;
  const float* x_bias;
  const float* z_bias;
  uint32_t key, keep_threshold;  // keep_threshold >= 65536: nothing dropped
  int64_t row0, col0;
};

// Rows [begin, end) of the tile into row_v / row_i (their own) and the column
// maxima col_v / col_i (this thread's, global row indices), with buf of m floats.
void scan_rows(const Tile& t, int64_t begin, int64_t end, float* row_v, int64_t* row_i, float* col_v,
               int64_t* col_i, float* buf) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const bool dropout = t.keep_threshold < 65536u;
  const int64_t m = t.m;
  for (int64_t i = begin; i < end; ++i) {
    const float* s = t.s + i * m;
    const float xb = t.x_bias ? t.x_bias[i] : 0.0f;
    // the scores of the row, dropped ones as -inf
    if (t.z_bias) {
      for (int64_t j = 0; j < m; ++j) buf[j] = t.scale * s[j] - xb - t.z_bias[j];
    } else {
      for (int64_t j = 0; j < m; ++j) buf[j] = t.scale * s[j] - xb;
    }
    if (dropout) {
      const uint32_t row = static_cast<uint32_t>(t.row0 + i);
      const uint32_t h_row = fmix32(t.key ^ fmix32(row * kGolden + 0x7F4A7C15u));
      const uint32_t c0 = static_cast<uint32_t>(t.col0);
      for (int64_t j = 0; j < m; ++j) {
        const uint32_t bits = fmix32(h_row + (c0 + static_cast<uint32_t>(j)) * kGolden) >> 16;
        buf[j] = bits < t.keep_threshold ? buf[j] : neg_inf;
      }
    }
    // the columns: a strictly larger score replaces the best row
    const int64_t global_row = t.row0 + i;
    for (int64_t j = 0; j < m; ++j) {
      const bool better = buf[j] > col_v[j];
      col_v[j] = better ? buf[j] : col_v[j];
      col_i[j] = better ? global_row : col_i[j];
    }
    // the row: its maximum, then the first column that holds it
    float best = neg_inf;
    for (int64_t j = 0; j < m; ++j) best = std::max(best, buf[j]);
    if (best > row_v[i]) {
      int64_t j = 0;
      while (buf[j] != best) ++j;
      row_v[i] = best;
      row_i[i] = t.col0 + j;
    }
  }
}

}  // namespace

namespace xling {

void best_of_tile(const float* s, int64_t n, int64_t m, float scale, const float* x_bias, const float* z_bias,
                  uint32_t key, uint32_t keep_threshold, int64_t row0, int64_t col0, float* row_v, int64_t* row_i,
                  float* col_v, int64_t* col_i, int64_t n_threads) {
  const Tile t{s, n, m, scale, x_bias, z_bias, key, keep_threshold, row0, col0};
  // a thread needs enough rows to pay for its own column maxima
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(n_threads, n / 64));
  if (parts == 1) {
    std::vector<float> buf(static_cast<size_t>(m));
    scan_rows(t, 0, n, row_v, row_i, col_v, col_i, buf.data());
    return;
  }
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> cv(parts, std::vector<float>(static_cast<size_t>(m), neg_inf));
  std::vector<std::vector<int64_t>> ci(parts, std::vector<int64_t>(static_cast<size_t>(m), 0));
  std::vector<std::thread> pool;
  for (int64_t p = 0; p < parts; ++p) {
    pool.emplace_back([&, p] {
      std::vector<float> buf(static_cast<size_t>(m));
      scan_rows(t, n * p / parts, n * (p + 1) / parts, row_v, row_i, cv[p].data(), ci[p].data(), buf.data());
    });
  }
  for (auto& th : pool) th.join();
  // in row order: the running maxima came from earlier rows, then each part's
  for (int64_t p = 0; p < parts; ++p) {
    for (int64_t j = 0; j < m; ++j) {
      if (cv[p][j] > col_v[j]) {
        col_v[j] = cv[p][j];
        col_i[j] = ci[p][j];
      }
    }
  }
}

}  // namespace xling
