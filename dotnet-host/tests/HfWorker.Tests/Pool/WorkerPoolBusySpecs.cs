using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>
    /// A worker that misses its ping is either busy (a call holding the GIL while it computes: CPU time grows) or
    /// hung (stopped, deadlocked: it does not). The busy one is left alone, up to the unresponsive limit; the hung
    /// one is killed, and its call is not retried, since the call may be what hung it.
    /// </summary>
    [TestFixture]
    public class WorkerPoolBusySpecs
    {
        private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20);

        private static Task<WorkerPool> StartWatched(HostEventWatch events, Action<WorkerPoolOptions> configure = null)
        {
            return PoolTesting.Start(1, o =>
            {
                o.PingTimeout = TimeSpan.FromSeconds(0.5);
                o.HealthCheckInterval = TimeSpan.FromMilliseconds(250);
                o.Worker.OnHostEvent = events.Add;
                if (configure != null) configure(o);
            });
        }

        private static bool IsEvent(HostEvent e, HostEventKind kind, HostEventLevel level)
        {
            return e.Kind == kind && e.Level == level;
        }

        [Test, Timeout(60000)]
        public async Task A_worker_busy_with_a_call_that_holds_the_GIL_for_several_ping_timeouts_is_left_alone()
        {
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events))
            {
                var ended = new ConcurrentQueue<string>();
                pool.WorkerExited += (sender, args) => ended.Enqueue("exited: " + args.ExitInfo);
                pool.WorkerRestarting += (sender, args) => ended.Enqueue("restarting");
                int pid = pool.Workers.Single().ProcessId;
                // Eight ping timeouts without a single answer, and safe to retry: were the worker killed, the
                // call would run again on the replacement and still succeed, so the events are what tell.
                var held = (Dictionary<string, object>)await pool.InvokeAsync(
                    PoolTesting.Call("test/hold_gil", Params.Of("seconds", 4.0), safeToRetry: true));
                Assert.That(held["held_seconds"], Is.GreaterThanOrEqualTo(4.0));
                var busy = await events.First(e => IsEvent(e, HostEventKind.Busy, HostEventLevel.Warning), Guard, "Busy warning");
                // The spell is over once the worker answers the ping again: nothing after this can kill it for the hold.
                await events.First(e => IsEvent(e, HostEventKind.Busy, HostEventLevel.Information), Guard, "the end of the busy spell");
                Assert.That(busy.ProcessId, Is.EqualTo(pid));
                Mentions.All(busy.Message, "did not answer worker/ping within 500 ms", "busy, not hung", "1 call in flight", "UnresponsiveLimit");
                Assert.That(events.Of(HostEventKind.Busy, HostEventLevel.Warning).Length, Is.EqualTo(1), "one warning per busy spell:\n" + events.Show());
                Assert.That(events.All.Where(e => e.Kind == HostEventKind.Killed || e.Kind == HostEventKind.Retried), Is.Empty, events.Show());
                Assert.That(ended, Is.Empty, "no worker ended");
                Assert.That(pool.Statistics.HungWorkersKilled, Is.EqualTo(0));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(0));
                Assert.That(pool.Workers.Single().ProcessId, Is.EqualTo(pid), "the same worker serves on");
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "after")), Is.EqualTo("after"));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_worker_busy_past_the_unresponsive_limit_is_killed_as_hung_and_its_call_is_not_retried()
        {
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events, o => o.UnresponsiveLimit = TimeSpan.FromSeconds(2)))
            {
                var call = pool.InvokeAsync(PoolTesting.Call("test/hold_gil", Params.Of("seconds", 120.0), safeToRetry: true));
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => call);
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Unresponsive));
                Mentions.All(error.Message, "test/hold_gil: not answered, and not retried", "may be what hung it",
                    "killed as unresponsive", "while busy, past the unresponsive limit of 2 s");
                await events.First(e => IsEvent(e, HostEventKind.Busy, HostEventLevel.Warning), Guard, "Busy warning before the kill");
                var killed = await events.First(e => e.Kind == HostEventKind.Killed, Guard, "Killed event");
                Assert.That(killed.Level, Is.EqualTo(HostEventLevel.Error));
                Assert.That(pool.Statistics.HungWorkersKilled, Is.EqualTo(1));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(0));
                Assert.That(events.All.Where(e => e.Kind == HostEventKind.Retried), Is.Empty, events.Show());
            }
        }

        [Test, Timeout(60000)]
        public async Task A_stopped_worker_is_killed_as_hung_and_its_call_safe_to_retry_fails_saying_why()
        {
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events))
            {
                var running = new Reports();
                // Safe to retry and short: were it retried, it would succeed on the replacement within seconds.
                var sleep = PoolTesting.Call("test/sleep", Params.Of("seconds", 5.0, "progress_interval", 0.05), safeToRetry: true);
                sleep.Progress = running;
                var call = pool.InvokeAsync(sleep);
                await running.First;
                int pid = pool.Workers.Single().ProcessId;
                // SIGSTOP freezes every thread: no ping answered, and no CPU time used.
                using (var stop = Process.Start(new ProcessStartInfo("kill", "-STOP " + pid) { UseShellExecute = false })) stop.WaitForExit();
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => call);
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Unresponsive));
                Assert.That(error.ExitInfo.ProcessId, Is.EqualTo(pid));
                Mentions.All(error.Message, "test/sleep: not answered, and not retried on another worker although marked SafeToRetry",
                    "its worker was killed as hung, and the call may be what hung it", "no answer to worker/ping within 500 ms and no CPU time used meanwhile");
                var killed = await events.First(e => e.Kind == HostEventKind.Killed, Guard, "Killed event");
                Assert.That(killed.Level, Is.EqualTo(HostEventLevel.Error));
                Assert.That(killed.ProcessId, Is.EqualTo(pid));
                Assert.That(events.Of(HostEventKind.Busy, HostEventLevel.Warning), Is.Empty, "a stopped worker is not busy:\n" + events.Show());
                Assert.That(pool.Statistics.Retried, Is.EqualTo(0));
                Assert.That(pool.Statistics.HungWorkersKilled, Is.EqualTo(1));
                await AsyncAssert.Eventually(() => pool.Statistics.ReadyWorkers == 1, Guard, "a replacement is ready");
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "after")), Is.EqualTo("after"));
            }
        }

        private sealed class FirstReport : IProgress<object>
        {
            private readonly TaskCompletionSource<bool> _first = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

            public Task First
            {
                get { return _first.Task; }
            }

            public void Report(object value)
            {
                _first.TrySetResult(true);
            }
        }
    }
}
