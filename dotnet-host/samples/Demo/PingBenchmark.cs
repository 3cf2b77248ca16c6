using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;

namespace HfWorker.Demo
{
    /// <summary>
    /// worker/ping round trips through the host library, through a <see cref="WorkerProcess"/> and through a
    /// <see cref="WorkerPool"/> of one worker: sequential latency percentiles and pipelined throughput (a fixed
    /// number of calls kept in flight). The two take turns for several rounds, so that a busy moment on the
    /// machine lands on both alike, and the figures are medians over the rounds.
    /// </summary>
    /// <remarks>
    /// Prints one line per path in words (the first one is what <c>bench/suite/dotnet.py</c> reads) and, last,
    /// one JSON object with every figure, which <c>bench/bench_host.py</c> reads.
    /// </remarks>
    internal static class PingBenchmark
    {
        private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(30);

        public static async Task<int> RunAsync(Arguments arguments)
        {
            int count = Math.Max(10, arguments.Int("count", 2000));
            int rounds = Math.Max(1, arguments.Int("rounds", 3));
            int inFlight = Math.Max(1, arguments.Int("in-flight", 64));
            bool withPool = arguments.Text("pool", "yes") != "no";
            var options = arguments.Worker();
            var ping = new Invocation<object>("worker/ping", null, reader => reader.ReadValue()) { Timeout = PingTimeout };
            var process = new Figures("process");
            var pooled = new Figures("pool");
            using (var worker = await WorkerProcess.StartAsync(options))
            using (var pool = withPool ? await WorkerPool.StartAsync(new WorkerPoolOptions { Worker = options, WorkerCount = 1 }) : null)
            {
                Func<Task> viaProcess = () => worker.InvokeAsync(ping);
                Func<Task> viaPool = () => pool.InvokeAsync(ping);
                // Warm up the JIT, the pipes and the thread pool on both paths.
                await Sequential(viaProcess, 500);
                await Pipelined(viaProcess, 2000, inFlight);
                if (withPool)
                {
                    await Sequential(viaPool, 500);
                    await Pipelined(viaPool, 2000, inFlight);
                }
                for (int round = 0; round < rounds; round++)
                {
                    await process.Measure(viaProcess, count, inFlight);
                    if (withPool) await pooled.Measure(viaPool, count, inFlight);
                }
            }
            Console.WriteLine(process.Describe(options.Transport, count, inFlight));
            if (withPool) Console.WriteLine(pooled.Describe(options.Transport, count, inFlight));
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "{{\"transport\": \"{0}\", \"sequential_calls\": {1}, \"rounds\": {2}, \"in_flight\": {3}, {4}{5}}}",
                options.Transport, count, rounds, inFlight, process.Json(), withPool ? ", " + pooled.Json() : ""));
            return 0;
        }

        /// <summary>Round-trip times in milliseconds, sorted, of <paramref name="count"/> calls one after another.</summary>
        private static async Task<double[]> Sequential(Func<Task> call, int count)
        {
            var samples = new double[count];
            var clock = new Stopwatch();
            for (int i = 0; i < count; i++)
            {
                clock.Restart();
                await call();
                samples[i] = clock.Elapsed.TotalMilliseconds;
            }
            Array.Sort(samples);
            return samples;
        }

        /// <summary>Calls per second with <paramref name="inFlight"/> calls always out: each lane starts its next call when one ends.</summary>
        private static async Task<double> Pipelined(Func<Task> call, int count, int inFlight)
        {
            int perLane = Math.Max(1, count / inFlight);
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, inFlight).Select(_ => Lane(call, perLane)));
            return perLane * inFlight / clock.Elapsed.TotalSeconds;
        }

        private static async Task Lane(Func<Task> call, int calls)
        {
            for (int i = 0; i < calls; i++) await call();
        }

        private static double Percentile(double[] sorted, double p)
        {
            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        }

        private static double Median(List<double> values)
        {
            var sorted = values.OrderBy(v => v).ToList();
            int n = sorted.Count;
            return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        }

        /// <summary>One path's figures, round by round.</summary>
        private sealed class Figures
        {
            private readonly string _name;
            private readonly List<double> _p50 = new List<double>();
            private readonly List<double> _p99 = new List<double>();
            private readonly List<double> _max = new List<double>();
            private readonly List<double> _perSecond = new List<double>();
            private readonly List<double> _cpuSequential = new List<double>();
            private readonly List<double> _cpuPipelined = new List<double>();

            public Figures(string name)
            {
                _name = name;
            }

            /// <summary>
            /// One round: sequential calls, then pipelined ones (ten times as many, at least 20,000), each with the host process's
            /// CPU time per call, which other processes' load on the machine disturbs less than wall-clock time.
            /// </summary>
            public async Task Measure(Func<Task> call, int count, int inFlight)
            {
                var cpu = CpuMicroseconds();
                var sorted = await Sequential(call, count);
                _cpuSequential.Add((CpuMicroseconds() - cpu) / count);
                cpu = CpuMicroseconds();
                int pipelined = Math.Max(count * 10, 20000);
                _perSecond.Add(await Pipelined(call, pipelined, inFlight));
                _cpuPipelined.Add((CpuMicroseconds() - cpu) / pipelined);
                _p50.Add(Percentile(sorted, 0.50));
                _p99.Add(Percentile(sorted, 0.99));
                _max.Add(sorted[sorted.Length - 1]);
            }

            private static double CpuMicroseconds()
            {
                using (var self = Process.GetCurrentProcess()) return self.TotalProcessorTime.TotalMilliseconds * 1000;
            }

            public string Describe(WorkerTransport transport, int count, int inFlight)
            {
                return string.Format(CultureInfo.InvariantCulture,
                    "ping over {0} through the {1}: p50 {2:0.000} ms, p99 {3:0.000} ms, max {4:0.000} ms ({5} sequential, median of {6} rounds); {7:0} pings/s with {8} in flight; host CPU {9:0.0} µs a call ({10:0.0} pipelined)",
                    transport, _name, Median(_p50), Median(_p99), Median(_max), count, _p50.Count,
                    Median(_perSecond), inFlight, Median(_cpuSequential), Median(_cpuPipelined));
            }

            public string Json()
            {
                return string.Format(CultureInfo.InvariantCulture,
                    "\"{0}\": {{\"p50_ms\": {1:0.0000}, \"p99_ms\": {2:0.0000}, \"per_second\": {3:0}, \"rounds_p50_ms\": [{4}], \"rounds_per_second\": [{5}], "
                    + "\"host_cpu_us_per_call\": {6:0.0}, \"host_cpu_us_per_pipelined_call\": {7:0.0}}}",
                    _name, Median(_p50), Median(_p99), Median(_perSecond),
                    string.Join(", ", _p50.Select(v => v.ToString("0.0000", CultureInfo.InvariantCulture))),
                    string.Join(", ", _perSecond.Select(v => v.ToString("0", CultureInfo.InvariantCulture))),
                    Median(_cpuSequential), Median(_cpuPipelined));
            }
        }
    }
}
