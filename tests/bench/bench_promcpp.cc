// bench_promcpp.cc - prometheus-cpp's Counter::Increment and
// Histogram::Observe, measured with the same loops as bench_metrics so the
// figures compare within one run. Built only when prometheus-cpp-dev is
// installed.
//
//   bench_promcpp loop counter|histogram N   (under callgrind)
//   bench_promcpp time                        (prints ns per call)
//
// SPDX-License-Identifier: MIT
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static volatile double sink;

static void loop_counter (prometheus::Counter &c, long n)
{
    for (long i = 0; i < n; i++)
        c.Increment ();
}

static void loop_histogram (prometheus::Histogram &h, long n)
{
    unsigned long long v = 12345;
    for (long i = 0; i < n; i++) {
        h.Observe ((double) v * 1e-9);
        v = v * 2862933555777941757ull + 3037000493ull;
        v >>= 34;
    }
    sink = (double) v;
}

int main (int argc, char **argv)
{
    auto registry = std::make_shared<prometheus::Registry> ();
    auto &cf = prometheus::BuildCounter ().Name ("c_total").Help ("h").Register (*registry);
    auto &c = cf.Add ({{"socket", "a"}});
    auto &hf = prometheus::BuildHistogram ().Name ("h_seconds").Help ("h").Register (*registry);
    // the same 20 bounds as libzmqobs's default
    prometheus::Histogram::BucketBoundaries b = {
        1e-05, 2.5e-05, 5e-05, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
        0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25};
    auto &h = hf.Add ({{"socket", "a"}}, b);
    if (argc == 4 && !strcmp (argv[1], "loop")) {
        long n = atol (argv[3]);
        if (!strcmp (argv[2], "counter"))
            loop_counter (c, n);
        else
            loop_histogram (h, n);
        return 0;
    }
    const long n = 2000000;
    double best_c = 1e9, best_h = 1e9;
    for (int k = 0; k < 5; k++) {
        auto t0 = std::chrono::steady_clock::now ();
        loop_counter (c, n);
        auto t1 = std::chrono::steady_clock::now ();
        loop_histogram (h, n);
        auto t2 = std::chrono::steady_clock::now ();
        double dc = std::chrono::duration<double, std::nano> (t1 - t0).count () / n;
        double dh = std::chrono::duration<double, std::nano> (t2 - t1).count () / n;
        best_c = dc < best_c ? dc : best_c;
        best_h = dh < best_h ? dh : best_h;
    }
    printf ("prometheus-cpp wall time (best of 5 x 2M): Counter::Increment %.2f ns, "
            "Histogram::Observe %.2f ns\n",
            best_c, best_h);
    return 0;
}
