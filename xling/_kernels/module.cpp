// Python bindings of the kernels over numpy arrays (pybind11, no torch ABI).
//
// Built once per instruction set as the module XLING_MODULE_NAME (_portable,
// _avx2 or _avx512; see CMakeLists.txt). Arrays are taken without conversion:
// the kernels update their outputs in place, so a copy made to fix a dtype or
// a stride would silently drop the update. The callers are xling's own thin
// wrappers (xling/_kernels/__init__.py), so bad arguments are programming
// errors and raise ValueError/TypeError with the expected and the found.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels.hpp"

namespace py = pybind11;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style>;

template <typename T>
void check_matrix(const Array<T>& a, const char* name) {
  if (a.ndim() != 2) {
    throw py::value_error(std::string("Expected ") + name + " to be a matrix, got " + std::to_string(a.ndim()) +
                          " dimensions");
  }
}

template <typename T>
void check_length(const Array<T>& a, py::ssize_t n, const char* name) {
  if (a.size() != n) {
    throw py::value_error(std::string("Expected ") + name + " of " + std::to_string(n) + " values, got " +
                          std::to_string(a.size()));
  }
}

void fold_tile(Array<float> S, Array<float> row_top, Array<float> col_top, int64_t n_threads) {
  check_matrix(S, "S");
  check_matrix(row_top, "row_top");
  check_matrix(col_top, "col_top");
  const int64_t n = S.shape(0), m = S.shape(1);
  if (row_top.shape(0) != n || col_top.shape(0) != m) {
    throw py::value_error("Expected row_top of " + std::to_string(n) + " rows and col_top of " + std::to_string(m) +
                          " rows, got " + std::to_string(row_top.shape(0)) + " and " +
                          std::to_string(col_top.shape(0)));
  }
  if (n_threads < 1) throw py::value_error("Expected n_threads >= 1, got " + std::to_string(n_threads));
  const float* s = S.data();
  float* rows = row_top.mutable_data();
  float* cols = col_top.mutable_data();
  const int64_t kr = row_top.shape(1), kc = col_top.shape(1);
  py::gil_scoped_release no_gil;
  xling::fold_tile(s, n, m, rows, kr, cols, kc, n_threads);
}

// The best matches of a score tile, both ways, in place (see matches.cpp); empty biases: none.
void best_of_tile(Array<float> S, float scale, Array<float> x_bias, Array<float> z_bias, uint32_t key,
                  uint32_t keep_threshold, int64_t row0, int64_t col0, Array<float> row_v, Array<int64_t> row_i,
                  Array<float> col_v, Array<int64_t> col_i, int64_t n_threads) {
  check_matrix(S, "S");
  const int64_t n = S.shape(0), m = S.shape(1);
  check_length(row_v, n, "row_v (one per row of S)");
  check_length(row_i, n, "row_i (one per row of S)");
  check_length(col_v, m, "col_v (one per column of S)");
  check_length(col_i, m, "col_i (one per column of S)");
  if (x_bias.size() != 0) check_length(x_bias, n, "x_bias (one per row of S, or empty)");
  if (z_bias.size() != 0) check_length(z_bias, m, "z_bias (one per column of S, or empty)");
  if (n_threads < 1) throw py::value_error("Expected n_threads >= 1, got " + std::to_string(n_threads));
  if (keep_threshold < 1 || keep_threshold > 65536) {
    throw py::value_error("Expected 1 <= keep_threshold <= 65536, got " + std::to_string(keep_threshold));
  }
  const float* s = S.data();
  const float* xb = x_bias.size() ? x_bias.data() : nullptr;
  const float* zb = z_bias.size() ? z_bias.data() : nullptr;
  float* rv = row_v.mutable_data();
  int64_t* ri = row_i.mutable_data();
  float* cv = col_v.mutable_data();
  int64_t* ci = col_i.mutable_data();
  py::gil_scoped_release no_gil;
  xling::best_of_tile(s, n, m, scale, xb, zb, key, keep_threshold, row0, col0, rv, ri, cv, ci, n_threads);
}

std::array<double, 3> train(Array<float> syn0, Array<float> syn1, Array<int32_t> ids, Array<int64_t> offsets,
                            Array<int64_t> job_bounds, Array<float> job_alpha, Array<float> keep,
                            Array<float> alias_prob, Array<int32_t> alias_idx, int64_t window, int64_t negative,
                            bool cbow, int64_t n_threads, uint64_t seed) {
  check_matrix(syn0, "syn0");
  check_matrix(syn1, "syn1");
  if (syn0.shape(0) != syn1.shape(0) || syn0.shape(1) != syn1.shape(1)) {
    throw py::value_error("Expected syn0 and syn1 of the same shape");
  }
  const py::ssize_t n_words = syn0.shape(0);
  check_length(job_alpha, job_bounds.size(), "job_alpha (one per job bound)");
  check_length(keep, n_words, "keep (one per word)");
  check_length(alias_prob, n_words, "alias_prob (one per word)");
  check_length(alias_idx, n_words, "alias_idx (one per word)");
  if (job_bounds.size() < 1 || offsets.size() < 1) throw py::value_error("Expected non-empty offsets and job_bounds");
  if (window < 1 || negative < 0 || negative > xling::kMaxNegative || n_threads < 1) {
    throw py::value_error("Expected window >= 1, 0 <= negative <= " + std::to_string(xling::kMaxNegative) +
                          ", n_threads >= 1, got " + std::to_string(window) + ", " + std::to_string(negative) +
                          ", " + std::to_string(n_threads));
  }
  const xling::TrainInput in{syn0.mutable_data(), syn1.mutable_data(), n_words, syn0.shape(1), ids.data(),
                             offsets.data(), job_bounds.data(), job_alpha.data(), job_bounds.size() - 1,
                             keep.data(), alias_prob.data(), alias_idx.data(), window, negative, cbow, n_threads,
                             seed};
  py::gil_scoped_release no_gil;
  return xling::train(in);
}

Array<int32_t> sample_alias(Array<float> alias_prob, Array<int32_t> alias_idx, int64_t n, uint64_t seed) {
  check_length(alias_idx, alias_prob.size(), "alias_idx (one per alias_prob)");
  Array<int32_t> out(n);
  xling::sample_alias(alias_prob.data(), alias_idx.data(), static_cast<uint32_t>(alias_prob.size()), n, seed,
                      out.mutable_data());
  return out;
}

#ifdef XLING_VECTOR_IO
// Parse a block of whole lines into rows (n_lines, dim); returns the words, each
// followed by a space, as bytes, or None when a line is not in the common layout.
py::object parse_text_rows(const py::bytes& block, Array<float> rows, int64_t n_threads) {
  check_matrix(rows, "rows");
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(block.ptr(), &data, &size) != 0) throw py::error_already_set();
  if (size == 0 || data[size - 1] != '\n') throw py::value_error("Expected a block of lines ending in a newline");
  if (n_threads < 1) throw py::value_error("Expected n_threads >= 1, got " + std::to_string(n_threads));
  const int64_t n_lines = rows.shape(0);
  std::string words;
  int64_t found;
  bool ok = false;
  {
    py::gil_scoped_release no_gil;
    found = std::count(data, data + size, '\n');
    if (found == n_lines) {
      ok = xling::parse_text_rows(data, static_cast<size_t>(size), n_lines, rows.shape(1), rows.mutable_data(), words,
                                  n_threads);
    }
  }
  if (found != n_lines) {
    throw py::value_error("Expected rows of " + std::to_string(found) + " rows (one per line), got " +
                          std::to_string(n_lines));
  }
  if (!ok) return py::none();
  return py::bytes(words);
}

// Pointers to and sizes of the n words in words (bytes: the words joined by newlines).
void split_words(const py::bytes& words, int64_t n, std::vector<const char*>& starts, std::vector<size_t>& sizes) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(words.ptr(), &data, &size) != 0) throw py::error_already_set();
  starts.reserve(static_cast<size_t>(n));
  sizes.reserve(static_cast<size_t>(n));
  for (const char *p = data, *end = data + size; n > 0;) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    starts.push_back(p);
    sizes.push_back(static_cast<size_t>((nl ? nl : end) - p));
    if (!nl) break;
    p = nl + 1;
  }
  if (static_cast<int64_t>(starts.size()) != n) {
    throw py::value_error("Expected " + std::to_string(n) + " words joined by newlines, got " +
                          std::to_string(starts.size()));
  }
}

// The text lines of words (bytes: the words joined by newlines) and rows (n, dim), as bytes.
py::bytes format_text_rows(const py::bytes& words, Array<float> rows, int precision, int64_t n_threads) {
  check_matrix(rows, "rows");
  if (precision < 1 || precision > 17) {
    throw py::value_error("Expected precision between 1 and 17, got " + std::to_string(precision));
  }
  if (n_threads < 1) throw py::value_error("Expected n_threads >= 1, got " + std::to_string(n_threads));
  std::vector<const char*> starts;
  std::vector<size_t> sizes;
  split_words(words, rows.shape(0), starts, sizes);
  std::string out;
  {
    py::gil_scoped_release no_gil;
    xling::format_text_rows(starts.data(), sizes.data(), rows.data(), rows.shape(0), rows.shape(1), precision, out,
                            n_threads);
  }
  return py::bytes(out);
}

#endif

// Whether this CPU (and its operating system, which must save the wide
// registers) runs the code of the build `isa`. The flags of each build in
// CMakeLists.txt and the features tested here must stay in step.
bool cpu_supports(const std::string& isa) {
  if (isa == "portable") return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // x86-64-v3, feature by feature (older compilers lack the level names here).
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                  __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                  __builtin_cpu_supports("f16c") && __builtin_cpu_supports("lzcnt") &&
                  __builtin_cpu_supports("movbe");
  if (isa == "avx2") return v3;
  if (isa == "avx512") {
    return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
  }
#endif
  return false;
}

}  // namespace

PYBIND11_MODULE(XLING_MODULE_NAME, mod) {
  mod.doc() = "xling's compiled kernels, one build of them (see xling/_kernels/kernels.hpp)";
  mod.attr("ISA") = XLING_ISA_NAME;
  mod.def("fold_tile", &fold_tile, "Fold a score tile into running row and column top-k sets, in place",
          py::arg("S").noconvert(), py::arg("row_top").noconvert(), py::arg("col_top").noconvert(),
          py::arg("n_threads"));
  mod.def("best_of_tile", &best_of_tile, "Fold a score tile into running row and column best matches, in place",
          py::arg("S").noconvert(), py::arg("scale"), py::arg("x_bias").noconvert(), py::arg("z_bias").noconvert(),
          py::arg("key"), py::arg("keep_threshold"), py::arg("row0"), py::arg("col0"), py::arg("row_v").noconvert(),
          py::arg("row_i").noconvert(), py::arg("col_v").noconvert(), py::arg("col_i").noconvert(),
          py::arg("n_threads"));
  mod.def("train", &train, "Hogwild SGNS/CBOW over jobs of sentences; returns (loss sum, terms, words kept)",
          py::arg("syn0").noconvert(), py::arg("syn1").noconvert(), py::arg("ids").noconvert(),
          py::arg("offsets").noconvert(), py::arg("job_bounds").noconvert(), py::arg("job_alpha").noconvert(),
          py::arg("keep").noconvert(), py::arg("alias_prob").noconvert(), py::arg("alias_idx").noconvert(),
          py::arg("window"), py::arg("negative"), py::arg("cbow"), py::arg("n_threads"), py::arg("seed"));
  mod.def("sample_alias", &sample_alias, "Draw n ids from an alias table", py::arg("alias_prob").noconvert(),
          py::arg("alias_idx").noconvert(), py::arg("n"), py::arg("seed"));
#ifdef XLING_VECTOR_IO
  mod.def("parse_text_rows", &parse_text_rows,
          "Parse whole text lines into rows, in place; returns the words or None for an unusual block",
          py::arg("block"), py::arg("rows").noconvert(), py::arg("n_threads"));
  mod.def("format_text_rows", &format_text_rows, "Format rows as text lines after their words",
          py::arg("words"), py::arg("rows").noconvert(), py::arg("precision"), py::arg("n_threads"));
#endif
  mod.def("cpu_supports", &cpu_supports, "Whether this CPU runs the build named isa", py::arg("isa"));
}
