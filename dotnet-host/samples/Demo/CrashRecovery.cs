using System;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;

namespace HfWorker.Demo
{
    /// <summary>
    /// A worker dies of a native crash (test/crash with native=true: SIGSEGV) in the middle of a call, and
    /// the host carries on: the call fails with an exception, the pool replaces the worker, and the next
    /// test/echo is timed from the moment the exception arrived until it answers (retried every 10 ms,
    /// for at most 60 s). Its last line is one JSON object:
    /// {"error", "message_first_line", "exit_code", "recovered_ms", "next_call", "restarts", "host_alive"}.
    /// </summary>
    internal static class CrashRecovery
    {
        private static readonly TimeSpan RecoveryDeadline = TimeSpan.FromSeconds(60);
        private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(10);

        public static async Task<int> RunAsync(Arguments arguments)
        {
            int workers = Math.Max(1, arguments.Int("workers", 1));
            var worker = arguments.Worker();
            worker.EnableTestMethods = true;
            var options = new WorkerPoolOptions { Worker = worker, WorkerCount = workers };
            Console.WriteLine("crash: a native crash (SIGSEGV) on a pool of " + workers + " worker" + (workers == 1 ? "" : "s"));
            using (var pool = await WorkerPool.StartAsync(options))
            {
                await pool.InvokeAsync("test/echo", Params("value", "warm-up"));
                long restartsBefore = pool.Statistics.Restarts;

                Exception error = null;
                try
                {
                    await pool.InvokeAsync("test/crash", Params("native", true));
                }
                catch (Exception e)
                {
                    error = e;
                }
                var sinceError = Stopwatch.StartNew();

                int attempts = 0;
                Exception lastFailure = null;
                bool recovered = false;
                using (var deadline = new CancellationTokenSource(RecoveryDeadline))
                {
                    while (!recovered && !deadline.IsCancellationRequested)
                    {
                        attempts++;
                        try
                        {
                            var echoed = await pool.InvokeAsync("test/echo", Params("value", "after the crash"), deadline.Token);
                            recovered = "after the crash".Equals(echoed);
                            if (!recovered) lastFailure = new InvalidOperationException("test/echo answered " + echoed);
                        }
                        catch (Exception e)
                        {
                            lastFailure = e;
                        }
                        if (!recovered && !deadline.IsCancellationRequested)
                        {
                            try
                            {
                                await Task.Delay(RetryDelay, deadline.Token);
                            }
                            catch (OperationCanceledException)
                            {
                            }
                        }
                    }
                }
                double recoveredMs = sinceError.Elapsed.TotalMilliseconds;
                // With several workers the next call can succeed on another one before the replacement is up:
                // wait (briefly) for full strength so that the restart is counted.
                var settle = Stopwatch.StartNew();
                while (pool.Statistics.ReadyWorkers < workers && settle.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(RetryDelay);

                var exited = error as WorkerExitedException;
                int? exitCode = exited != null ? exited.ExitCode : null;
                if (error == null)
                {
                    Console.WriteLine("  test/crash returned instead of failing");
                }
                else
                {
                    Console.WriteLine("  the call failed with " + error.GetType().Name + ":");
                    foreach (var line in error.Message.Split('\n')) Console.WriteLine("    " + line.TrimEnd('\r'));
                }
                if (recovered)
                {
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                        "  the next test/echo answered {0:0.0} ms after the exception ({1} attempt{2})",
                        recoveredMs, attempts, attempts == 1 ? "" : "s"));
                }
                else
                {
                    Console.WriteLine("  no test/echo succeeded within " + RecoveryDeadline.TotalSeconds + " s ("
                        + attempts + " attempts); last failure: " + (lastFailure == null ? "none" : FirstLine(lastFailure.Message)));
                }
                Console.WriteLine("  pool: " + pool.Statistics);

                var json = new StringBuilder();
                json.Append("{\"error\": ").Append(error == null ? "null" : JsonString(error.GetType().Name));
                json.Append(", \"message_first_line\": ").Append(error == null ? "null" : JsonString(FirstLine(error.Message)));
                json.Append(", \"exit_code\": ").Append(exitCode.HasValue ? exitCode.Value.ToString(CultureInfo.InvariantCulture) : "null");
                json.Append(", \"recovered_ms\": ").Append(recoveredMs.ToString("0.###", CultureInfo.InvariantCulture));
                json.Append(", \"next_call\": ").Append(recovered ? "\"ok\"" : "\"failed\"");
                json.Append(", \"restarts\": ").Append((pool.Statistics.Restarts - restartsBefore).ToString(CultureInfo.InvariantCulture));
                json.Append(", \"host_alive\": true}");
                Console.WriteLine(json.ToString());
                return recovered ? 0 : 1;
            }
        }

        private static System.Collections.Generic.Dictionary<string, object> Params(string name, object value)
        {
            return new System.Collections.Generic.Dictionary<string, object> { { name, value } };
        }

        private static string FirstLine(string text)
        {
            if (text == null) return "";
            int end = text.IndexOfAny(new[] { '\r', '\n' });
            return end < 0 ? text : text.Substring(0, end);
        }

        /// <summary>A JSON string literal: quotes, backslashes and control characters escaped.</summary>
        private static string JsonString(string text)
        {
            var json = new StringBuilder("\"");
            foreach (char c in text)
            {
                switch (c)
                {
                    case '"': json.Append("\\\""); break;
                    case '\\': json.Append("\\\\"); break;
                    case '\n': json.Append("\\n"); break;
                    case '\r': json.Append("\\r"); break;
                    case '\t': json.Append("\\t"); break;
                    default:
                        if (c < ' ') json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else json.Append(c);
                        break;
                }
            }
            return json.Append('"').ToString();
        }
    }
}
