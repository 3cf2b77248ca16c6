using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>DisposeAsync drains; Dispose is quick and bounded whatever the worker does; neither leaves a process behind.</summary>
    [TestFixture]
    public class WorkerDisposalSpecs : ScratchFolderFixture
    {
        public WorkerDisposalSpecs() : base("hfw-dispose-")
        {
        }

#if HFWORKER_ASYNC_INTERFACES
        [Test, Timeout(30000)]
        public async Task DisposeAsync_lets_the_running_call_finish_then_the_worker_exits_0()
        {
            var options = TestEnvironment.Worker();
            options.ShutdownGracePeriod = TimeSpan.FromSeconds(20);
            var worker = await WorkerProcess.StartAsync(options);
            var started = new Reports();
            // Deaf to cancellation and done in a second: only a graceful stop lets it answer.
            var running = worker.InvokeAsync("test/hang", Params.Of("seconds", 1.0, "release", "never"), started);
            await started.First;
            await worker.DisposeAsync();
            Assert.That(((Dictionary<string, object>)await running)["hung_seconds"], Is.GreaterThanOrEqualTo(1.0));
            Assert.That(worker.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Stopped));
            Assert.That(worker.ExitInfo.ExitCode, Is.EqualTo(0));
        }
#endif

        [Test, Timeout(30000)]
        public async Task Dispose_cancels_the_calls_in_flight_and_returns_without_waiting_for_the_grace_period()
        {
            var options = TestEnvironment.Worker();
            // Dispose used to stop gracefully: it blocked for this long plus 5 seconds.
            options.ShutdownGracePeriod = TimeSpan.FromSeconds(60);
            var worker = await WorkerProcess.StartAsync(options);
            var started = new Reports();
            var sleeping = worker.InvokeAsync("test/sleep", Params.Of("seconds", 60, "progress_interval", 0.05), started);
            await started.First;
            var clock = Stopwatch.StartNew();
            worker.Dispose();
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "about 3 s at most, with room for a busy machine");
            await AsyncAssert.Throws<Exception>(() => sleeping);
            var info = await worker.WaitForExitAsync();
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Stopped), "a cooperative call stops at once: no kill needed");
            Assert.That(info.ExitCode, Is.EqualTo(0));
        }

        [Test, Timeout(30000)]
        public async Task A_stop_fails_a_call_still_running_past_the_grace_with_the_workers_shutting_down_answer_and_refuses_later_calls()
        {
            var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker());
            var started = new Reports();
            // Deaf to cancellation for 5 s: still running when a 0.2 s grace ends.
            var running = worker.InvokeAsync("test/hang", Params.Of("seconds", 5.0, "release", "never"), started);
            await started.First;
            var stopping = worker.StopAsync(TimeSpan.FromSeconds(0.2));
            var late = worker.InvokeAsync("test/echo", Params.Of("value", 1));
            var cancelled = await AsyncAssert.Throws<HfWorker.Exceptions.WorkerRpcException>(() => running);
            Assert.That(cancelled.ErrorCode, Is.EqualTo(HfWorker.Protocol.RpcErrorCode.RequestCancelled));
            Assert.That(cancelled.Code, Is.EqualTo(-32800));
            Mentions.All(cancelled.RemoteMessage, "worker is shutting down");
            var refused = await AsyncAssert.Throws<HfWorker.Exceptions.WorkerRpcException>(() => late);
            Assert.That(refused.ErrorCode, Is.EqualTo(HfWorker.Protocol.RpcErrorCode.ShuttingDown), refused.Message);
            var info = await stopping;
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Stopped));
            Assert.That(info.ExitCode, Is.EqualTo(0));
        }

        [Test, Timeout(60000)]
        public async Task Dispose_kills_a_frozen_worker_and_everything_it_started_within_its_bound()
        {
            var options = WorkerWithChild.Options(Scratch);
            options.ShutdownGracePeriod = TimeSpan.FromSeconds(60);
            var worker = await WorkerProcess.StartAsync(options);
            int child = await WorkerWithChild.ChildOf(worker);
            int pid = worker.ProcessId;
            // Stopped by a signal: it reads nothing, answers nothing, and ignores worker/shutdown.
            using (var stop = Process.Start("kill", "-STOP " + pid)) stop.WaitForExit();
            var clock = Stopwatch.StartNew();
            worker.Dispose();
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "about 3 s at most, with room for a busy machine");
            var info = await worker.WaitForExitAsync();
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Killed));
            Mentions.All(info.Detail, "Dispose");
            await WorkerWithChild.WaitUntilGone(pid);
            await WorkerWithChild.WaitUntilGone(child);
        }
    }
}
