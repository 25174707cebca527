// Parsing and formatting of word-vector text lines ("word v1 ... vD\n") for
// xling, and the joining of word2vec binary records.
//
// The parser is a recogniser of the common layout, not a validator: a block of
// lines is accepted only when every line is a word (no control bytes) and
// exactly D numbers, each field after exactly one space, optionally followed
// by one trailing space (fastText) and a "\r" before the "\n". Anything else
// (tabs, double blanks, a bad or non-finite number, a "+-" the reader would
// refuse) rejects the whole block, and xling/_vector_io.py re-parses it with
// its line-by-line reference parser, which accepts it or names the bad line.
//
// Values: each number is parsed to the nearest double (std::from_chars rounds
// correctly, as Python's float() and numpy's text reader do) and then rounded
// to float32. Parsing straight to float32 would round once instead of twice
// and differ in rare halfway cases from what the reference parser stores.
//
// Formatting: std::to_chars(double, general, precision) is specified as
// printf's "%.{precision}g" in the C locale, which is what Python's
// "%.{precision}g" % value writes for the float32 value promoted to double.
//
// Text parsing and formatting split their lines between threads; every thread
// writes its own rows (or its own text) and the pieces are joined in order.

#include "kernels.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

// Below this many bytes (parsing) or values (formatting) per thread a thread costs more than it saves.
constexpr size_t kMinBytesPerThread = 1 << 20;
constexpr int64_t kMinValuesPerThread = 1 << 16;

// Half-way between float32's largest value and 2^128: doubles from here on round to inf.
constexpr double kFloatOverflow = 0x1.ffffffp+127;

// Run body(t) for t in [0, n_parts) on n_parts threads (the calling thread runs part 0).
template <typename Body>
void run_parts(int64_t n_parts, Body body) {
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < n_parts; ++t) pool.emplace_back(body, t);
  body(0);
  for (auto& th : pool) th.join();
}

// One number field starting at p, ending at a space or at end; false when it is
// not a plain finite decimal number the reference parser reads to the same float.
bool parse_field(const char*& p, const char* end, float* out) {
  if (p < end && *p == '+') {  // float() takes a leading "+", from_chars does not
    ++p;
    if (p < end && *p == '-') return false;
  }
  double d;
  const auto [next, ec] = std::from_chars(p, end, d, std::chars_format::general);
  if (ec != std::errc() || (next != end && *next != ' ')) return false;
  // inf, nan and values beyond float32's range: the reference parser reports them
  if (!(std::fabs(d) < kFloatOverflow)) return false;
  *out = static_cast<float>(d);
  p = next;
  return true;
}

// The line [p, end) ("\n" excluded): appends its word and a space to words and
// fills row; false when the line is not in the common layout.
bool parse_line(const char* p, const char* end, int64_t dim, float* row, std::string& words) {
  if (end > p && end[-1] == '\r') --end;
  if (end > p && end[-1] == ' ') --end;  // fastText ends its lines with a space
  const char* q = p;
  while (q < end && *q != ' ') {
    if (static_cast<unsigned char>(*q) < 32) return false;
    ++q;
  }
  if (q == p) return false;  // an empty line, or one that starts with a blank
  words.append(p, q);
  words.push_back(' ');
  for (int64_t j = 0; j < dim; ++j) {
    if (q == end) return false;  // fewer than dim values
    ++q;                         // the single space before the value
    if (!parse_field(q, end, row + j)) return false;
  }
  return q == end;  // more than dim values otherwise
}

// Lines of [p, end) (each ending in "\n") into rows from row 0 on; false as soon as one is unusual.
bool parse_lines(const char* p, const char* end, int64_t dim, float* rows, std::string& words) {
  for (float* row = rows; p < end; row += dim) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!parse_line(p, nl, dim, row, words)) return false;
    p = nl + 1;
  }
  return true;
}

}  // namespace

namespace xling {

bool parse_text_rows(const char* buf, size_t size, int64_t n_lines, int64_t dim, float* rows, std::string& words,
                     int64_t n_threads) {
  const int64_t n_parts =
      std::max<int64_t>(1, std::min<int64_t>({n_threads, n_lines, static_cast<int64_t>(size / kMinBytesPerThread)}));
  // Cut the block at line ends near equal byte offsets; each part starts at the row
  // after the lines of the parts before it.
  std::vector<const char*> cut(n_parts + 1, buf + size);
  cut[0] = buf;
  for (int64_t t = 1; t < n_parts; ++t) {
    const char* from = std::max(cut[t - 1], buf + size * t / n_parts);
    const char* nl = static_cast<const char*>(std::memchr(from, '\n', static_cast<size_t>(buf + size - from)));
    cut[t] = nl ? nl + 1 : buf + size;
  }
  std::vector<int64_t> first_row(n_parts + 1, 0);
  for (int64_t t = 0; t < n_parts; ++t) first_row[t + 1] = first_row[t] + std::count(cut[t], cut[t + 1], '\n');
  std::vector<std::string> part_words(n_parts);
  std::vector<char> ok(n_parts, 0);
  run_parts(n_parts, [&](int64_t t) {
    part_words[t].reserve(static_cast<size_t>(first_row[t + 1] - first_row[t]) * 16);
    ok[t] = parse_lines(cut[t], cut[t + 1], dim, rows + first_row[t] * dim, part_words[t]);
  });
  words.clear();
  for (int64_t t = 0; t < n_parts; ++t) {
    if (!ok[t]) return false;
    words += part_words[t];
  }
  return true;
}

void format_text_rows(const char* const* words, const size_t* word_sizes, const float* rows, int64_t n, int64_t dim,
                      int precision, std::string& out, int64_t n_threads) {
  const int64_t n_parts = std::max<int64_t>(1, std::min<int64_t>(n_threads, n * dim / kMinValuesPerThread));
  // The longest "%.{p}g" of a float32: sign, p digits, point and "e-45", or sign, "0.000" and p digits.
  const size_t value_chars = static_cast<size_t>(precision) + 7;
  std::vector<std::string> part(n_parts);
  run_parts(n_parts, [&](int64_t t) {
    const int64_t begin = n * t / n_parts, end = n * (t + 1) / n_parts;
    size_t bound = static_cast<size_t>(end - begin) * (static_cast<size_t>(dim) * (value_chars + 1) + 1);
    for (int64_t i = begin; i < end; ++i) bound += word_sizes[i];
    std::string& s = part[t];
    s.resize(bound);
    char* p = s.data();
    char* const limit = s.data() + s.size();
    for (int64_t i = begin; i < end; ++i) {
      std::memcpy(p, words[i], word_sizes[i]);
      p += word_sizes[i];
      const float* row = rows + i * dim;
      for (int64_t j = 0; j < dim; ++j) {
        *p++ = ' ';
        // the bound above leaves room for every value, so to_chars cannot fail
        p = std::to_chars(p, limit, static_cast<double>(row[j]), std::chars_format::general, precision).ptr;
      }
      *p++ = '\n';
    }
    s.resize(static_cast<size_t>(p - s.data()));
  });
  out.clear();
  if (n_parts == 1) {
    out.swap(part[0]);
    return;
  }
  size_t total = 0;
  for (const auto& s : part) total += s.size();
  out.reserve(total);
  for (const auto& s : part) out += s;
}

void join_records(const char* const* words, const size_t* word_sizes, const unsigned char* payloads, int64_t n,
                  int64_t record_bytes, std::string& out) {
  size_t total = static_cast<size_t>(n) * (static_cast<size_t>(record_bytes) + 2);
  for (int64_t i = 0; i < n; ++i) total += word_sizes[i];
  out.resize(total);
  char* p = out.data();
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(p, words[i], word_sizes[i]);
    p += word_sizes[i];
    *p++ = ' ';
    std::memcpy(p, payloads + i * record_bytes, static_cast<size_t>(record_bytes));
    p += record_bytes;
    *p++ = '\n';
  }
}

}  // namespace xling
