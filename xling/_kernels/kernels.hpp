// The compiled kernels of xling over plain CPU buffers (no torch, no Python).
//
// The same sources are compiled once per instruction set (see CMakeLists.txt):
// each build is its own Python extension module (_portable, _avx2, _avx512),
// and xling/_kernels/__init__.py imports the best one the CPU runs. Separate
// modules, rather than several instruction sets in one library, keep every
// inline function and template instantiation (std::vector, std::fill, ...)
// compiled with one set of flags: in one library the linker would keep a single
// copy of each, possibly the AVX-512 one, and the portable path could fault.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace xling {

// Fold the score tile s (n, m) into running row (n, kr) and column (m, kc) top-k
// sets, in place; -inf entries mean "empty", kr or kc may be 0. See topk.cpp.
void fold_tile(const float* s, int64_t n, int64_t m, float* rows, int64_t kr, float* cols, int64_t kc,
               int64_t n_threads);

// Fold the tile s (n, m) of scores C = scale * s - x_bias[i] - z_bias[j] (either
// bias may be null) into running row maxima row_v / row_i (n; best global column)
// and column maxima col_v / col_i (m; best global row), in place; ties keep the
// first index. The tile's rows and columns are row0 + i and col0 + j of the whole
// problem; an entry is dropped when its counter-based mask bits (key, row,
// column) are >= keep_threshold (65536: none). See matches.cpp.
void best_of_tile(const float* s, int64_t n, int64_t m, float scale, const float* x_bias, const float* z_bias,
                  uint32_t key, uint32_t keep_threshold, int64_t row0, int64_t col0, float* row_v, int64_t* row_i,
                  float* col_v, int64_t* col_i, int64_t n_threads);

// Everything one call of the word2vec kernel reads or updates (see word2vec.cpp).
struct TrainInput {
  float* syn0;               // (n_words, dim) input vectors, updated in place
  float* syn1;               // (n_words, dim) output vectors, updated in place
  int64_t n_words, dim;
  const int32_t* ids;        // token ids of all sentences, concatenated
  const int64_t* offsets;    // sentence s is ids[offsets[s] : offsets[s + 1]]
  const int64_t* job_bounds; // (n_jobs + 1) sentence indices
  const float* job_alpha;    // (n_jobs + 1) learning rates at the job bounds
  int64_t n_jobs;
  const float* keep;         // (n_words) subsampling keep probabilities
  const float* alias_prob;   // (n_words) alias table of the noise distribution
  const int32_t* alias_idx;  // (n_words)
  int64_t window, negative;
  bool cbow;
  int64_t n_threads;
  uint64_t seed;
};

// The most noise words per prediction the kernel accepts.
constexpr int64_t kMaxNegative = 64;

// Train on every job; returns (loss sum, loss terms, words kept).
std::array<double, 3> train(const TrainInput& in);

// Draw n ids from an alias table with the kernel's generator (for tests).
void sample_alias(const float* prob, const int32_t* alias, uint32_t n_words, int64_t n, uint64_t seed, int32_t* out);

// Parse the n_lines lines of buf (size bytes, each line ending in "\n") as
// "word v1 ... v_dim" into rows (n_lines, dim), and set words to the words, each
// followed by a space. False (rows and words then undefined) when a line is not
// in the common layout; see vector_io.cpp.
bool parse_text_rows(const char* buf, size_t size, int64_t n_lines, int64_t dim, float* rows, std::string& words,
                     int64_t n_threads);

// Set out to the lines "word v1 ... v_dim\n" of the n rows (n, dim), each value
// as printf's "%.{precision}g" writes it (1 <= precision <= 17); word i is the
// word_sizes[i] bytes at words[i]. See vector_io.cpp.
void format_text_rows(const char* const* words, const size_t* word_sizes, const float* rows, int64_t n, int64_t dim,
                      int precision, std::string& out, int64_t n_threads);

}  // namespace xling
