// Hogwild skip-gram / CBOW with negative sampling (Mikolov et al. 2013) for xling.
//
// The kernel works in place on the float32 rows of two contiguous matrices
// (input vectors `syn0` and output vectors `syn1`, both (n_words, dim)). Threads
// update shared rows without locks (Recht et al. 2011, "Hogwild!"): collisions
// are rare because each step touches only 2 + negative rows out of n_words.
//
// Work is cut into jobs (ranges of sentences) by the caller; threads take jobs
// from an atomic counter, and every job draws its random numbers from its own
// stream seeded by (seed, job index), so a single-threaded run is exactly
// reproducible and the learning rate of a job does not depend on scheduling.
//
// Compiled once per instruction set (see kernels.hpp): `omp simd` vectorises
// dot and axpy with the widest vectors of each build.

#include "kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

// splitmix64 (Steele, Lea & Flood 2014): tiny state, good enough statistics
// for sampling, and trivially seeded per job.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  inline uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 bits, the precision of a float.
  inline float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  // Uniform integer in [0, n) by multiply-shift (no modulo bias worth noting for n < 2^32).
  inline uint32_t below(uint32_t n) {
    return static_cast<uint32_t>((static_cast<uint64_t>(static_cast<uint32_t>(next())) * n) >> 32);
  }
};

inline uint64_t job_seed(uint64_t seed, uint64_t job) {
  Rng mix(seed ^ (job * 0xD1B54A32D192ED03ULL));
  return mix.next();
}

inline float dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void axpy(float a, const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

struct Sampler {
  // Walker/Vose alias table of the unigram^power distribution: one uniform
  // index and one uniform threshold per draw, O(1) and cache friendly.
  const float* prob;
  const int32_t* alias;
  uint32_t n;
  inline int32_t draw(Rng& rng) const {
    uint32_t i = rng.below(n);
    return rng.uniform() < prob[i] ? static_cast<int32_t>(i) : alias[i];
  }
};

// Sigmoid and softplus tabulated on |f| in [0, kTableMax) (the kernel spends
// less time here than computing exp and log1p per prediction); beyond the
// table the sigmoid is 0 or 1 within float precision of the gradient step.
constexpr int kTableSize = 4096;
using xling::kMaxNegative;
constexpr float kTableMax = 16.f;
constexpr float kTableScale = kTableSize / kTableMax;

struct Tables {
  float sig[kTableSize];       // sigmoid(x) for x >= 0, at bin centres
  float softplus[kTableSize];  // log(1 + exp(-x)) for x >= 0
  Tables() {
    for (int i = 0; i < kTableSize; ++i) {
      const double x = (i + 0.5) / kTableScale;
      sig[i] = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
      softplus[i] = static_cast<float>(std::log1p(std::exp(-x)));
    }
  }
};
const Tables kTables;

struct Model {
  float* syn0;
  float* syn1;
  int64_t dim;
  int64_t window;
  int64_t negative;
  Sampler sampler;
};

// One negative-sampling update of output rows for the input vector `in`:
// the positive `target` and `negative` draws. The gradient for the input is
// accumulated into `grad_in`. Returns the loss -log s(f+) - sum log s(-f-).
inline double ns_update(const Model& m, const float* in, int32_t target, float alpha, float* grad_in, Rng& rng) {
  // Draw the noise words first and prefetch all their rows: the rows are
  // scattered over a matrix far bigger than the caches, and fetching them
  // together overlaps the misses instead of paying them one by one.
  int32_t outs[kMaxNegative + 1];
  int64_t n_out = 0;
  outs[n_out++] = target;
  for (int64_t d = 0; d < m.negative; ++d) {
    const int32_t w = m.sampler.draw(rng);
    if (w != target) outs[n_out++] = w;
  }
  for (int64_t k = 0; k < n_out; ++k) {
    const char* row = reinterpret_cast<const char*>(m.syn1 + static_cast<int64_t>(outs[k]) * m.dim);
    for (int64_t b = 0; b < m.dim * static_cast<int64_t>(sizeof(float)); b += 64) __builtin_prefetch(row + b, 1, 3);
  }
  double loss = 0.0;
  for (int64_t k = 0; k < n_out; ++k) {
    const float label = k == 0 ? 1.f : 0.f;
    float* row = m.syn1 + static_cast<int64_t>(outs[k]) * m.dim;
    const float f = dot(in, row, m.dim);
    const float a = std::fabs(f);
    float sig_abs, tail;  // sigmoid(|f|) and log(1 + exp(-|f|))
    if (a < kTableMax) {
      const int bin = static_cast<int>(a * kTableScale);
      sig_abs = kTables.sig[bin];
      tail = kTables.softplus[bin];
    } else {
      sig_abs = 1.f;
      tail = 0.f;
    }
    const float sig = f >= 0.f ? sig_abs : 1.f - sig_abs;
    // loss = softplus(margin) = max(margin, 0) + log(1 + exp(-|f|)), margin = -f or f.
    const float margin = label > 0.f ? -f : f;
    loss += static_cast<double>(std::max(margin, 0.f) + tail);
    const float g = (label - sig) * alpha;
    axpy(g, row, grad_in, m.dim);
    axpy(g, in, row, m.dim);
  }
  return loss;
}

struct JobResult {
  double loss = 0.0;
  int64_t terms = 0;   // predictions made (pairs for skip-gram, centres for CBOW)
  int64_t words = 0;   // tokens kept after subsampling
};

void run_job(const Model& m, bool cbow, const int32_t* ids, const int64_t* offsets, int64_t s0, int64_t s1,
             const float* keep, float alpha0, float alpha1, uint64_t seed, std::vector<int32_t>& sent,
             std::vector<float>& work, JobResult& res) {
  Rng rng(seed);
  const int64_t dim = m.dim;
  float* grad = work.data();
  float* hidden = work.data() + dim;
  const int64_t t_begin = offsets[s0];
  const double span = std::max<int64_t>(offsets[s1] - t_begin, 1);
  for (int64_t s = s0; s < s1; ++s) {
    // Learning rate decays linearly with the position of the sentence in the job.
    const float alpha = alpha0 + (alpha1 - alpha0) * static_cast<float>((offsets[s] - t_begin) / span);
    // Subsample frequent words before windowing (as word2vec.c does), so
    // windows reach further past dropped tokens.
    sent.clear();
    for (int64_t t = offsets[s]; t < offsets[s + 1]; ++t) {
      const int32_t w = ids[t];
      if (keep[w] >= 1.f || rng.uniform() < keep[w]) sent.push_back(w);
    }
    const int64_t n = static_cast<int64_t>(sent.size());
    res.words += n;
    for (int64_t i = 0; i < n; ++i) {
      // Dynamic window: the effective size is uniform in 1..window.
      const int64_t b = 1 + static_cast<int64_t>(rng.below(static_cast<uint32_t>(m.window)));
      const int64_t lo = std::max<int64_t>(0, i - b), hi = std::min<int64_t>(n - 1, i + b);
      if (!cbow) {
        float* in = m.syn0 + static_cast<int64_t>(sent[i]) * dim;
        for (int64_t j = lo; j <= hi; ++j) {
          if (j == i) continue;
          std::fill(grad, grad + dim, 0.f);
          res.loss += ns_update(m, in, sent[j], alpha, grad, rng);
          res.terms += 1;
          axpy(1.f, grad, in, dim);
        }
      } else {
        const int64_t count = hi - lo;  // context words, centre excluded
        if (count == 0) continue;
        std::fill(hidden, hidden + dim, 0.f);
        for (int64_t j = lo; j <= hi; ++j)
          if (j != i) axpy(1.f, m.syn0 + static_cast<int64_t>(sent[j]) * dim, hidden, dim);
        const float inv = 1.f / static_cast<float>(count);
        for (int64_t k = 0; k < dim; ++k) hidden[k] *= inv;
        std::fill(grad, grad + dim, 0.f);
        res.loss += ns_update(m, hidden, sent[i], alpha, grad, rng);
        res.terms += 1;
        // As in word2vec.c, every context row receives the full gradient of the mean.
        for (int64_t j = lo; j <= hi; ++j)
          if (j != i) axpy(1.f, grad, m.syn0 + static_cast<int64_t>(sent[j]) * dim, dim);
      }
    }
  }
}

}  // namespace

namespace xling {

// Train on the sentences of jobs [0, n_jobs): job k covers sentences
// job_bounds[k] .. job_bounds[k+1] and uses the learning rate job_alpha[k]
// falling linearly to job_alpha[k+1]. Arguments are checked by the caller (module.cpp).
std::array<double, 3> train(const TrainInput& in) {
  const Model m{in.syn0, in.syn1, in.dim, in.window, in.negative,
                Sampler{in.alias_prob, in.alias_idx, static_cast<uint32_t>(in.n_words)}};
  const int64_t n_jobs = in.n_jobs;

  std::atomic<int64_t> next_job{0};
  std::vector<JobResult> results(static_cast<size_t>(in.n_threads));
  auto worker = [&](int64_t tid) {
    std::vector<int32_t> sent;
    std::vector<float> work(static_cast<size_t>(2 * m.dim));
    for (int64_t k = next_job.fetch_add(1); k < n_jobs; k = next_job.fetch_add(1)) {
      run_job(m, in.cbow, in.ids, in.offsets, in.job_bounds[k], in.job_bounds[k + 1], in.keep, in.job_alpha[k],
              in.job_alpha[k + 1], job_seed(in.seed, static_cast<uint64_t>(k)), sent, work, results[tid]);
    }
  };
  {
    const int64_t n_spawn = std::min<int64_t>(in.n_threads, std::max<int64_t>(n_jobs, 1));
    std::vector<std::thread> pool;
    for (int64_t t = 1; t < n_spawn; ++t) pool.emplace_back(worker, t);
    worker(0);
    for (auto& th : pool) th.join();
  }
  JobResult total;
  for (const auto& r : results) {
    total.loss += r.loss;
    total.terms += r.terms;
    total.words += r.words;
  }
  return {total.loss, static_cast<double>(total.terms), static_cast<double>(total.words)};
}

void sample_alias(const float* prob, const int32_t* alias, uint32_t n_words, int64_t n, uint64_t seed, int32_t* out) {
  const Sampler s{prob, alias, n_words};
  Rng rng(job_seed(seed, 0));
  for (int64_t i = 0; i < n; ++i) out[i] = s.draw(rng);
}

}  // namespace xling
