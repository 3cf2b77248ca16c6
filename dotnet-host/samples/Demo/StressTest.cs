using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;

namespace HfWorker.Demo
{
    /// <summary>
    /// M embedding calls through a pool of N workers at once, optionally killing a worker from outside
    /// every few seconds. Its last line is one JSON object:
    /// {"requests", "succeeded", "failed", "lost", "restarts", "seconds"}, where lost counts the calls that
    /// never completed (by the deadline).
    /// </summary>
    internal static class StressTest
    {
        public static async Task<int> RunAsync(Arguments arguments)
        {
            int workers = Math.Max(1, arguments.Int("workers", 2));
            int requests = arguments.Int("requests", 1000);
            double killEvery = arguments.Seconds("kill-every", 0);
            var deadline = TimeSpan.FromSeconds(arguments.Seconds("deadline", 600));
            var options = new WorkerPoolOptions
            {
                Worker = arguments.Worker(),
                WorkerCount = workers,
                // Every call ends by the deadline one way or another; lost means it did not end at all.
                CallTimeout = deadline,
            };
            Console.WriteLine("stress: " + requests + " embedding calls on " + workers + " workers"
                + (killEvery > 0 ? ", killing a worker every " + killEvery + " s" : ""));
            using (var pool = await WorkerPool.StartAsync(options))
            {
                var hf = new HfModels(pool);
                var model = await hf.LoadAsync("sentence-transformers/all-MiniLM-L6-v2");
                long restartsBefore = pool.Statistics.Restarts;
                var clock = Stopwatch.StartNew();
                using (var stopKilling = new CancellationTokenSource())
                {
                    var killer = killEvery > 0 ? KillWorkersAsync(pool, TimeSpan.FromSeconds(killEvery), stopKilling.Token) : Task.FromResult(0);
                    var calls = Enumerable.Range(0, requests)
                        .Select(i => hf.EmbedAsync(model, "Sentence number " + i + " is about cats, rain and markets."))
                        .ToList();
                    var all = Task.WhenAll(calls.Select(c => c.ContinueWith(t => t, TaskScheduler.Default)));
                    await Task.WhenAny(all, Task.Delay(deadline + TimeSpan.FromSeconds(30)));
                    stopKilling.Cancel();
                    int kills = await killer;
                    double seconds = clock.Elapsed.TotalSeconds;

                    int succeeded = calls.Count(c => c.Status == TaskStatus.RanToCompletion && c.Result.Length == 384);
                    int failed = calls.Count(c => c.IsFaulted || c.IsCanceled);
                    int lost = calls.Count(c => !c.IsCompleted);
                    foreach (var group in calls.Where(c => c.IsFaulted).GroupBy(c => c.Exception.GetBaseException().GetType().Name))
                    {
                        Console.WriteLine("  " + group.Count() + " failed with " + group.Key + ", e.g. " + group.First().Exception.GetBaseException().Message.Split('\n')[0]);
                    }
                    if (kills > 0) Console.WriteLine("  killed " + kills + " workers from outside");
                    Console.WriteLine("  " + (succeeded / seconds).ToString("0.0", CultureInfo.InvariantCulture) + " calls/s; pool: " + pool.Statistics);
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                        "{{\"requests\": {0}, \"succeeded\": {1}, \"failed\": {2}, \"lost\": {3}, \"restarts\": {4}, \"seconds\": {5:0.###}}}",
                        requests, succeeded, failed, lost, pool.Statistics.Restarts - restartsBefore, seconds));
                    return lost == 0 ? 0 : 1;
                }
            }
        }

        /// <summary>Kill a random worker with SIGKILL every interval, as an outside force would (not through the pool).</summary>
        private static async Task<int> KillWorkersAsync(WorkerPool pool, TimeSpan interval, CancellationToken stop)
        {
            var random = new Random(12345);
            int kills = 0;
            while (true)
            {
                try
                {
                    await Task.Delay(interval, stop);
                }
                catch (OperationCanceledException)
                {
                    return kills;
                }
                var workers = pool.Workers;
                if (workers.Count == 0) continue;
                var victim = workers[random.Next(workers.Count)];
                try
                {
                    using (var process = Process.GetProcessById(victim.ProcessId)) process.Kill();
                    kills++;
                }
                catch (Exception e) when (e is ArgumentException || e is InvalidOperationException || e is System.ComponentModel.Win32Exception)
                {
                    // It died on its own meanwhile.
                }
            }
        }
    }
}
