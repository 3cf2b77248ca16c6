using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using HfWorker.Tests.Workers;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>A pool's start, stop and disposal, and the host events its slots report.</summary>
    [TestFixture]
    public class WorkerPoolLifecycleSpecs : ScratchFolderFixture
    {
        public WorkerPoolLifecycleSpecs() : base("hfw-pool-life-")
        {
        }

        [Test, Timeout(30000)]
        public async Task A_pool_whose_worker_is_killed_reports_Killed_WorkerExited_and_Restarting_in_order_with_slot_and_pid()
        {
            var log = new HostEventWatch();
            using (var pool = await PoolTesting.Start(2, o => { o.Worker.OnHostEvent = log.Add; o.HealthCheckInterval = TimeSpan.FromMinutes(10); }))
            {
                var replaced = new TaskCompletionSource<WorkerReadyEventArgs>();
                pool.WorkerReady += (sender, args) => replaced.TrySetResult(args);
                var victim = pool.Workers[0];
                int slot = log.All.Single(e => e.Kind == HostEventKind.WorkerStarted && e.ProcessId == victim.ProcessId).Slot;
                victim.Kill();
                var replacement = await replaced.Task;
                Assert.That(replacement.Slot, Is.EqualTo(slot));
                var victims = log.All.Where(e => e.ProcessId == victim.ProcessId).ToArray();
                Assert.That(victims.Select(e => e.Kind),
                    Is.EqualTo(new[] { HostEventKind.WorkerStarted, HostEventKind.Killed, HostEventKind.WorkerExited, HostEventKind.Restarting }), log.Show());
                Assert.That(victims.Select(e => e.Slot), Is.All.EqualTo(slot));
                Mentions.All(victims[3].Message, "slot " + slot, "replaces worker " + victim.ProcessId);
                var started = log.All.Where(e => e.Kind == HostEventKind.WorkerStarted).ToArray();
                Assert.That(started.Select(e => e.Slot), Is.EquivalentTo(new[] { 0, 1, slot }), "each start tagged with its slot");
                Assert.That(started.Last().ProcessId, Is.EqualTo(replacement.Worker.ProcessId));
            }
        }

        [Test, Timeout(30000)]
        public async Task Handlers_added_before_the_start_hear_every_slots_first_WorkerReady()
        {
            // Raised during StartAsync, these went to nobody: no caller can subscribe before StartAsync returns the pool.
            var heard = new List<WorkerReadyEventArgs>();
            var both = new TaskCompletionSource<bool>();
            WorkerPool subscribed = null;
            using (var pool = await WorkerPool.StartAsync(PoolTesting.Options(2), p =>
            {
                subscribed = p;
                Assert.That(p.Workers, Is.Empty, "called before any worker started");
                p.WorkerReady += (sender, args) =>
                {
                    lock (heard)
                    {
                        heard.Add(args);
                        if (heard.Count == 2) both.TrySetResult(true);
                    }
                };
            }))
            {
                Assert.That(subscribed, Is.SameAs(pool));
                await both.Task;
                lock (heard)
                {
                    Assert.That(heard.Select(e => e.Slot), Is.EquivalentTo(new[] { 0, 1 }));
                    Assert.That(heard.Select(e => e.IsRestart), Is.All.False);
                    Assert.That(heard.Select(e => e.Worker.ProcessId), Is.EquivalentTo(pool.Workers.Select(w => w.ProcessId)));
                }
            }
        }

        [Test, Timeout(30000)]
        public async Task A_virtual_environment_without_python_fails_the_pool_start_at_once_without_retries()
        {
            var log = new HostEventWatch();
            var error = await AsyncAssert.Throws<WorkerStartException>(() => PoolTesting.Start(2, o =>
            {
                o.Worker.VirtualEnvironment = Scratch;
                o.Worker.OnHostEvent = log.Add;
                o.StartAttempts = 3;
            }));
            Mentions.All(error.Message, "no Python interpreter", Path.Combine(Scratch, "bin", "python"));
            var failed = log.All.Where(e => e.Kind == HostEventKind.StartFailed).ToArray();
            Assert.That(failed.Select(e => e.Slot), Is.EquivalentTo(new[] { 0, 1 }), "one try per slot: a setting that cannot work is not retried\n" + log.Show());
        }

#if HFWORKER_ASYNC_INTERFACES
        [Test, Timeout(30000)]
        public async Task DisposeAsync_lets_the_calls_in_flight_finish()
        {
            var pool = await PoolTesting.Start(2, o => o.Worker.ShutdownGracePeriod = TimeSpan.FromSeconds(20));
            var started = new Reports();
            var running = pool.InvokeAsync("test/hang", Params.Of("seconds", 1.0, "release", "never"), started);
            await started.First;
            var workers = pool.Workers.ToList();
            await pool.DisposeAsync();
            Assert.That(((Dictionary<string, object>)await running)["hung_seconds"], Is.GreaterThanOrEqualTo(1.0));
            Assert.That(workers.Select(w => w.ExitInfo.Reason), Is.All.EqualTo(WorkerExitReason.Stopped));
            Assert.That(workers.Select(w => w.ExitInfo.ExitCode), Is.All.EqualTo(0));
        }
#endif

        [Test, Timeout(60000)]
        public async Task Dispose_returns_within_its_bound_when_a_worker_ignores_shutdown_and_leaves_no_process_behind()
        {
            // Dispose used to stop gracefully: it blocked for this grace period plus 5 seconds.
            var pool = await PoolTesting.Start(2, o => { o.Worker.ShutdownGracePeriod = TimeSpan.FromSeconds(60); o.HealthCheckInterval = TimeSpan.FromMinutes(10); });
            var workers = pool.Workers.ToList();
            using (var stop = Process.Start("kill", "-STOP " + workers[0].ProcessId)) stop.WaitForExit();
            var started = new Reports();
            var hanging = workers[1].InvokeAsync("test/hang", Params.Of("seconds", 60, "release", "never"), started);
            await started.First;
            var clock = Stopwatch.StartNew();
            pool.Dispose();
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "about 3 s at most, with room for a busy machine");
            await AsyncAssert.Throws<HfWorkerException>(() => hanging);
            foreach (var worker in workers)
            {
                await worker.WaitForExitAsync();
                await WorkerWithChild.WaitUntilGone(worker.ProcessId);
            }
            Assert.That(workers[0].ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Killed), "the stopped one could only be killed");
        }
    }
}
