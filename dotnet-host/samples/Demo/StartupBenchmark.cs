using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Tasks;

namespace HfWorker.Demo
{
    /// <summary>
    /// How long a pool of N workers takes to be ready (every worker started and handshaken), for N = 1, 2, 4, 8:
    /// workers start in parallel, so a pool of 4 should take little longer than a pool of 1. One JSON line per size.
    /// A pool of one is started and stopped first, untimed, so that the first size measured does not pay alone for
    /// compiling the host's code.
    /// </summary>
    internal static class StartupBenchmark
    {
        public static async Task<int> RunAsync(Arguments arguments)
        {
            int largest = Math.Max(1, arguments.Int("workers", 8));
            using (await WorkerPool.StartAsync(new WorkerPoolOptions { Worker = arguments.Worker(), WorkerCount = 1 }))
            {
            }
            for (int count = 1; count <= largest; count *= 2)
            {
                var options = new WorkerPoolOptions { Worker = arguments.Worker(), WorkerCount = count };
                var clock = Stopwatch.StartNew();
                using (var pool = await WorkerPool.StartAsync(options))
                {
                    double seconds = clock.Elapsed.TotalSeconds;
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                        "{{\"workers\": {0}, \"ready_seconds\": {1:0.000}, \"transport\": \"{2}\"}}", count, seconds, options.Worker.Transport));
                }
            }
            return 0;
        }
    }
}
