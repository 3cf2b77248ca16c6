using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>
    /// When a pool runs a call again: once, on another worker, only when it is marked safe to retry and its worker
    /// crashed, exited or was killed on request. A call the pool cannot know to be harmless twice is never retried.
    /// </summary>
    [TestFixture]
    public class WorkerPoolRetrySpecs
    {
        private static readonly TimeSpan Guard = TimeSpan.FromSeconds(20);

        // No health pings: they count in WorkerProcess.InFlight, which tells which worker runs the call.
        private static Task<WorkerPool> StartWatched(HostEventWatch events, int workers = 2)
        {
            return PoolTesting.Start(workers, o =>
            {
                o.HealthCheckInterval = TimeSpan.FromMinutes(10);
                o.Worker.OnHostEvent = events.Add;
            });
        }

        private static async Task<WorkerProcess> RunningOn(WorkerPool pool)
        {
            await AsyncAssert.Eventually(() => pool.Workers.Any(w => w.InFlight == 1), Guard, "the call is running");
            return pool.Workers.Single(w => w.InFlight == 1);
        }

        [Test, Timeout(60000)]
        public async Task A_call_safe_to_retry_whose_worker_crashes_runs_once_more_on_another_worker()
        {
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events))
            {
                var call = pool.InvokeAsync(PoolTesting.Call("test/sleep", Params.Of("seconds", 2.0), safeToRetry: true));
                var victim = await RunningOn(pool);
                int victimPid = victim.ProcessId;
                // The worker crashes for a reason the call has nothing to do with: another call on it.
                await AsyncAssert.Throws<WorkerCrashedException>(() => victim.InvokeAsync("test/crash", Params.Of("exit_code", 3)));
                var result = (Dictionary<string, object>)await call;
                Assert.That(result["slept_seconds"], Is.GreaterThanOrEqualTo(2.0));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(1));
                var retried = await events.First(e => e.Kind == HostEventKind.Retried, Guard, "Retried event");
                Assert.That(retried.Level, Is.EqualTo(HostEventLevel.Information));
                Assert.That(retried.ProcessId, Is.EqualTo(victimPid));
                Mentions.All(retried.Message, "test/sleep sent again to another worker", "exited unexpectedly (exit code 3)");
            }
        }

        [Test, Timeout(60000)]
        public async Task A_call_safe_to_retry_whose_worker_is_killed_on_request_runs_once_more()
        {
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events))
            {
                var call = pool.InvokeAsync(PoolTesting.Call("test/sleep", Params.Of("seconds", 2.0), safeToRetry: true));
                (await RunningOn(pool)).Kill();
                var result = (Dictionary<string, object>)await call;
                Assert.That(result["slept_seconds"], Is.GreaterThanOrEqualTo(2.0));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(1));
                Mentions.All((await events.First(e => e.Kind == HostEventKind.Retried, Guard, "Retried event")).Message, "was killed by the host");
            }
        }

        [Test, Timeout(60000)]
        public async Task A_call_that_crashes_every_worker_it_runs_on_takes_down_two_at_most()
        {
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events))
            {
                var error = await AsyncAssert.Throws<WorkerCrashedException>(
                    () => pool.InvokeAsync(PoolTesting.Call("test/crash", Params.Of("exit_code", 5), safeToRetry: true)));
                Assert.That(error.ExitCode, Is.EqualTo(5));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(1), "retried once, not twice");
                await AsyncAssert.Eventually(() => pool.Statistics.Restarts == 2 && pool.Statistics.ReadyWorkers == 2, Guard, "both workers replaced");
                Assert.That(events.All.Count(e => e.Kind == HostEventKind.Retried), Is.EqualTo(1), events.Show());
            }
        }

        [Test, Timeout(60000)]
        public async Task A_raw_call_is_not_retried_unless_marked_safe()
        {
            Assert.That(new Invocation<object>("test/sleep", null, r => r.ReadValue()).SafeToRetry, Is.False, "the default");
            var events = new HostEventWatch();
            using (var pool = await StartWatched(events))
            {
                // The short form builds a plain Invocation: not safe to retry either.
                var call = pool.InvokeAsync("test/sleep", Params.Of("seconds", 30.0));
                var victim = await RunningOn(pool);
                await AsyncAssert.Throws<WorkerCrashedException>(() => victim.InvokeAsync("test/crash", Params.Of("exit_code", 3)));
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => call);
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Exited));
                Assert.That(error.Message.Contains("not retried"), Is.False, "nothing to explain, it was never going to be: " + error.Message);
                Assert.That(pool.Statistics.Retried, Is.EqualTo(0));
                Assert.That(events.All.Where(e => e.Kind == HostEventKind.Retried), Is.Empty, events.Show());
            }
        }
    }
}
