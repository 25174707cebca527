// Running top-k of the rows and the columns of a score tile, in one pass, for xling.
//
// CSLS needs, for every row x of X and every row z of Z, the mean of the k
// largest cosines of x against Z and of z against X. The (n_x, n_z) cosines
// come tile by tile from matrix products; this kernel folds one tile S (n, m)
// into two running top-k sets, rows (n, k) and columns (m, k), reading S once.
//
// Each set is kept unsorted together with its smallest value (the threshold).
// After the first few rows almost no score beats either threshold, so the scan
// is a vectorised compare of 16 scores against the row threshold and against
// 16 column thresholds; only the rare blocks holding a winner are revisited
// element by element. Insertion replaces the smallest entry and rescans the k
// entries for the new smallest (k is ~10).
//
// Threads split the columns: each owns the column sets of its columns, and
// keeps its own row candidates, merged into the row sets at the end. Thread 0
// starts from the current row sets; the other threads start empty but never
// accept a value below the current row threshold, so the merge of all
// candidates is exactly the top k of the old sets and the tile. With no column
// sets (a row top-k only) the threads split the rows instead.
//
// Compiled once per instruction set: the AVX-512 and AVX2 branches below are
// chosen by the flags of each build (see kernels.hpp).

#include "kernels.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kBlock = 16;

inline float min_of(const float* v, int64_t k) {
  float m = v[0];
  for (int64_t i = 1; i < k; ++i) m = std::min(m, v[i]);
  return m;
}

// Replace the smallest entry of v (k values, current minimum `cur`) by x; return the new minimum.
inline float insert(float* v, int64_t k, float cur, float x) {
  int64_t pos = 0;
  while (v[pos] != cur) ++pos;
  v[pos] = x;
  return min_of(v, k);
}

// Whether any of kBlock scores beats the row threshold or its column's threshold:
// two compares and an OR of masks per vector. Written with intrinsics because
// GCC does not vectorise this early-exit test reliably once it is inlined.
inline bool any_above(const float* s, const float* col_thr, float row_thr) {
#if defined(__AVX512F__)
  const __m512 v = _mm512_loadu_ps(s);
  const __mmask16 m = _mm512_cmp_ps_mask(v, _mm512_set1_ps(row_thr), _CMP_GT_OQ) |
                      _mm512_cmp_ps_mask(v, _mm512_loadu_ps(col_thr), _CMP_GT_OQ);
  return m != 0;
#elif defined(__AVX__)
  const __m256 r = _mm256_set1_ps(row_thr);
  const __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
  const __m256 m = _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(a, r, _CMP_GT_OQ), _mm256_cmp_ps(b, r, _CMP_GT_OQ)),
                                _mm256_or_ps(_mm256_cmp_ps(a, _mm256_loadu_ps(col_thr), _CMP_GT_OQ),
                                             _mm256_cmp_ps(b, _mm256_loadu_ps(col_thr + 8), _CMP_GT_OQ)));
  return _mm256_movemask_ps(m) != 0;
#else
  int hit = 0;
  for (int64_t t = 0; t < kBlock; ++t) hit |= (s[t] > row_thr) | (s[t] > col_thr[t]);
  return hit != 0;
#endif
}

inline float block_max(const float* s) {
#if defined(__AVX512F__)
  return _mm512_reduce_max_ps(_mm512_loadu_ps(s));
#else
  float m = s[0];
  for (int64_t t = 1; t < kBlock; ++t) m = std::max(m, s[t]);
  return m;
#endif
}

// A starting threshold for a row with an empty set: just below the k-th largest
// of its block maxima. Those k maxima are k distinct scores, so the row's k-th
// largest score is at least that value, and every score of the top k passes.
// Without it the threshold would climb from -inf one insertion at a time and the
// first ~k·ln(n_blocks / k) blocks of the row would all be revisited.
float seed_floor(const float* s, int64_t n_blocks, int64_t k, float* top) {
  const float inf = std::numeric_limits<float>::infinity();
  std::fill(top, top + k, -inf);
  float cur = -inf;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float x = block_max(s + b * kBlock);
    if (x > cur) cur = insert(top, k, cur, x);
  }
  return std::nextafter(cur, -inf);
}

}  // namespace

namespace xling {

// Shapes and n_threads >= 1 are checked by the caller (module.cpp).
void fold_tile(const float* s, int64_t n, int64_t m, float* rows, int64_t kr, float* cols, int64_t kc,
               int64_t n_threads) {
  const float inf = std::numeric_limits<float>::infinity();

  // With column sets, threads split the columns (each owns its columns' sets and
  // keeps row candidates of its own); with row sets only, they split the rows.
  // Below ~1024 columns or rows per thread the split costs more than it saves.
  const bool split_rows = kc == 0;
  const int64_t n_chunks = std::max<int64_t>(1, std::min<int64_t>(n_threads, (split_rows ? n : m) / 1024));
  const bool extra_rows = !split_rows && kr > 0 && n_chunks > 1;
  std::vector<float> row_floor(static_cast<size_t>(n), inf);  // +inf disables the row side
  if (kr > 0) {
    for (int64_t i = 0; i < n; ++i) row_floor[i] = extra_rows ? min_of(rows + i * kr, kr) : -inf;
  }
  // Row candidates of column chunks 1.. (chunk 0 updates row_top itself).
  std::vector<float> extra(static_cast<size_t>(extra_rows ? (n_chunks - 1) * n * kr : 0), -inf);

  auto scan_chunk = [&](int64_t c) {
    const int64_t i_begin = split_rows ? n * c / n_chunks : 0, i_end = split_rows ? n * (c + 1) / n_chunks : n;
    const int64_t j_begin = split_rows ? 0 : m * c / n_chunks, j_end = split_rows ? m : m * (c + 1) / n_chunks;
    float* my_rows = (c == 0 || !extra_rows) ? rows : extra.data() + (c - 1) * n * kr;
    std::vector<float> col_min(static_cast<size_t>(j_end - j_begin), inf);
    if (kc > 0) {
      for (int64_t j = j_begin; j < j_end; ++j) col_min[j - j_begin] = min_of(cols + j * kc, kc);
    }
    float* cmin = col_min.data() - j_begin;  // indexed by the global column
    std::vector<float> scratch(static_cast<size_t>(std::max<int64_t>(kr, 1)));
    for (int64_t i = i_begin; i < i_end; ++i) {
      const float* si = s + i * m;
      float* ri = my_rows + i * kr;
      // the row threshold: the current set's minimum, never below the floor
      float r_cur = kr > 0 ? min_of(ri, kr) : inf;
      float floor = row_floor[i];
      if (r_cur == -inf && floor == -inf && j_end - j_begin >= kBlock * kr) {
        floor = seed_floor(si + j_begin, (j_end - j_begin) / kBlock, kr, scratch.data());
      }
      float r_thr = std::max(r_cur, floor);
      auto visit = [&](int64_t j) {
        const float x = si[j];
        if (x > cmin[j]) cmin[j] = insert(cols + j * kc, kc, cmin[j], x);
        if (x > r_thr) {
          r_cur = insert(ri, kr, r_cur, x);
          r_thr = std::max(r_cur, floor);
        }
      };
      int64_t j = j_begin;
      for (; j + kBlock <= j_end; j += kBlock) {
        if (any_above(si + j, cmin + j, r_thr)) {
          for (int64_t t = 0; t < kBlock; ++t) visit(j + t);
        }
      }
      for (; j < j_end; ++j) visit(j);
    }
  };
  {
    std::vector<std::thread> pool;
    for (int64_t c = 1; c < n_chunks; ++c) pool.emplace_back(scan_chunk, c);
    scan_chunk(0);
    for (auto& th : pool) th.join();
  }

  // Merge each row's candidates from the other column chunks into its set.
  if (extra_rows) {
    for (int64_t i = 0; i < n; ++i) {
      float* ri = rows + i * kr;
      float cur = min_of(ri, kr);
      for (int64_t c = 1; c < n_chunks; ++c) {
        const float* ei = extra.data() + (c - 1) * n * kr + i * kr;
        for (int64_t t = 0; t < kr; ++t) {
          if (ei[t] > cur) cur = insert(ri, kr, cur, ei[t]);
        }
      }
    }
  }
}

}  // namespace xling
