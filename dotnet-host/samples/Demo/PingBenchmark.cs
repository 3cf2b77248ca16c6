using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;

namespace HfWorker.Demo
{
    /// <summary>worker/ping round trips through the host library: sequential latency percentiles and pipelined throughput.</summary>
    internal static class PingBenchmark
    {
        public static async Task<int> RunAsync(Arguments arguments)
        {
            int count = Math.Max(10, arguments.Int("count", 2000));
            var options = arguments.Worker();
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                for (int i = 0; i < 200; i++) await worker.PingAsync(TimeSpan.FromSeconds(5)); // warm up the JIT and the pipe
                var samples = new double[count];
                for (int i = 0; i < count; i++) samples[i] = (await worker.PingAsync(TimeSpan.FromSeconds(5))).TotalMilliseconds;
                Array.Sort(samples);
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, count).Select(_ => worker.PingAsync(TimeSpan.FromSeconds(30))));
                double perSecond = count / clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "ping over {0}: p50 {1:0.000} ms, p99 {2:0.000} ms, max {3:0.000} ms ({4} sequential); {5:0} pings/s with {4} in flight",
                    options.Transport, Percentile(samples, 0.50), Percentile(samples, 0.99), samples[samples.Length - 1], count, perSecond));
            }
            return 0;
        }

        private static double Percentile(double[] sorted, double p)
        {
            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        }
    }
}
