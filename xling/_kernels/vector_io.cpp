// Parsing and formatting of word-vector text lines ("word v1 ... vD\n") for xling.
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
// Formatting: the reference is std::to_chars(double, general, precision),
// specified as printf's "%.{precision}g" in the C locale, which is what
// Python's "%.{precision}g" % value writes for the float32 value promoted to
// double. It takes ~100 ns a value here (Ryu's printf algorithm, made for any
// double), so the values of embeddings take an exact shortcut about 3x faster
// (format_g_exact): a float32 is m * 2^q with m < 2^24, so its digits are one
// 128-bit product and shift, rounded half to even on the exact remainder as
// printf rounds. It was compared with std::to_chars on every float32 value at
// precision 9 and on every 997th bit pattern at each precision from 1 to 17.
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

#ifdef __SIZEOF_INT128__
// "00" to "99"
constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// The n low decimal digits of d at out[0, n), two at a time (n <= 19).
void write_digits(char* out, uint64_t d, int n) {
  while (n > 8) {  // then 32-bit arithmetic for the rest
    const uint32_t r = static_cast<uint32_t>(d % 100);
    d /= 100;
    n -= 2;
    std::memcpy(out + n, kDigitPairs + 2 * r, 2);
  }
  uint32_t e = static_cast<uint32_t>(d);
  for (; n >= 2; n -= 2) {
    std::memcpy(out + n - 2, kDigitPairs + 2 * (e % 100), 2);
    e /= 100;
  }
  if (n == 1) out[0] = static_cast<char>('0' + e);
}

__extension__ typedef unsigned __int128 u128;  // (a GCC and Clang extension)

// 10^k for k in [0, kMaxScale]: m * 10^k < 2^128 for every float32 significand m < 2^24.
constexpr int kMaxScale = 31;
struct Pow10Table {
  u128 v[kMaxScale + 1];
  constexpr Pow10Table() : v() {
    v[0] = 1;
    for (int k = 1; k <= kMaxScale; ++k) v[k] = v[k - 1] * 10;
  }
};
constexpr Pow10Table kPow10;

// Bytes format_g_exact may write at p: the value (at most 24) and what its fixed-size copies overrun.
constexpr size_t kExactSlack = 40;

// printf's "%.{precision}g" of the float32 x promoted to double, written at p
// (which must have kExactSlack bytes of room); returns the end, or nullptr when
// x is zero, subnormal or not finite, or so small or large that its digits do
// not fit the 128-bit arithmetic here (about |x| < 10^(precision - 32) or
// |x| >= 10^precision); std::to_chars writes those.
//
// x = m * 2^q exactly. With X the decimal exponent of x (10^X <= |x| < 10^(X+1)),
// its precision significant digits are N = round(m * 2^q * 10^(precision-1-X)),
// rounded half to even on the exact value as printf does; N == 10^precision
// after rounding carries into the exponent.
char* format_g_exact(char* p, float x, int precision) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int biased = static_cast<int>((bits >> 23) & 0xff);
  if (biased == 0 || biased == 0xff) return nullptr;
  const uint64_t m = (bits & 0x7fffffu) | 0x800000u;
  const int q = biased - 150;
  const int shift = q < 0 ? -q : 0;
  const u128 low = kPow10.v[precision - 1], high = kPow10.v[precision];
  // floor(log10(2^e2)) for e2 = floor(log2|x|): X or one off, which the loop corrects
  int X = ((biased - 127) * 78913) >> 18;
  u128 num = 0, t = 0;
  for (int tries = 0;; ++tries) {
    const int s = precision - 1 - X;
    if (s < 0 || s > kMaxScale || shift > 127 || tries > 2) return nullptr;
    num = u128(m) * kPow10.v[s];
    if (q > 0) num <<= q;  // then |x| >= 2^24, X >= 7 and num = |x| * 10^s < 10^(precision + 1)
    t = num >> shift;
    if (t >= high) {
      ++X;
    } else if (t < low) {
      --X;
    } else {
      break;
    }
  }
  if (shift > 0) {
    const u128 rem = num & ((u128(1) << shift) - 1), half = u128(1) << (shift - 1);
    if (rem > half || (rem == half && (t & 1))) ++t;
    if (t == high) {
      t = low;
      ++X;
    }
  }
  // Fixed-size copies (the digits buffer and the output have room for them)
  // cost less than a memcpy call per value; p then moves by the real length.
  char digits[40] = {};
  write_digits(digits, static_cast<uint64_t>(t), precision);
  int nz = precision;  // %g drops trailing zeros (and then a bare point)
  while (nz > 1 && digits[nz - 1] == '0') --nz;
  *p = '-';
  p += bits >> 31;
  if (X < -4 || X >= precision) {
    p[0] = digits[0];
    p[1] = '.';
    std::memcpy(p + 2, digits + 1, 16);
    p += nz > 1 ? nz + 1 : 1;
    p[0] = 'e';
    p[1] = X < 0 ? '-' : '+';
    const int ax = X < 0 ? -X : X;  // two digits, as printf writes (|X| < 100 here)
    std::memcpy(p + 2, kDigitPairs + 2 * ax, 2);
    p += 4;
  } else if (X >= 0) {
    std::memcpy(p, digits, 17);
    p += X + 1;
    if (nz > X + 1) {
      p[0] = '.';
      std::memcpy(p + 1, digits + X + 1, 16);
      p += nz - X;
    }
  } else {
    std::memcpy(p, "0.000000", 8);
    p += 1 - X;
    std::memcpy(p, digits, 17);
    p += nz;
  }
  return p;
}
#else
constexpr size_t kExactSlack = 0;
char* format_g_exact(char*, float, int) { return nullptr; }  // every value goes to std::to_chars
#endif

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
    bound += kExactSlack;
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
        char* const exact = format_g_exact(p, row[j], precision);
        // the bound above leaves room for every value, so to_chars cannot fail
        p = exact ? exact
                  : std::to_chars(p, limit, static_cast<double>(row[j]), std::chars_format::general, precision).ptr;
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

}  // namespace xling
