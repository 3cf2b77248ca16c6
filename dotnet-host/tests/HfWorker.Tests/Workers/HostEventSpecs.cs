using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>What the host does to a worker reaches OnHostEvent as structured events, as it happens.</summary>
    [TestFixture]
    public class HostEventSpecs : ScratchFolderFixture
    {
        public HostEventSpecs() : base("hfw-events-")
        {
        }

        [Test, Timeout(30000)]
        public async Task A_start_and_a_stop_report_WorkerStarted_then_WorkerExited_with_the_pid()
        {
            var log = new HostEventWatch();
            var options = TestEnvironment.Worker();
            options.OnHostEvent = log.Add;
            var worker = await WorkerProcess.StartAsync(options);
            var info = await worker.StopAsync();
            var events = log.All;
            Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[] { HostEventKind.WorkerStarted, HostEventKind.WorkerExited }), log.Show());
            Assert.That(events.Select(e => e.ProcessId), Is.All.EqualTo(worker.ProcessId));
            Assert.That(events.Select(e => e.Slot), Is.All.EqualTo(-1), "not in a pool");
            Assert.That(events[1].Level, Is.EqualTo(HostEventLevel.Information), "a stop is routine");
            Mentions.All(events[1].Message, "was stopped", "exit code 0");
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Stopped));
            Assert.That(worker.StderrTail.Any(l => l.StartsWith("[host] worker " + worker.ProcessId + " ready", StringComparison.Ordinal)), Is.True,
                "the stderr tail keeps them too");
        }

        [Test, Timeout(30000)]
        public async Task Kill_reports_who_killed_the_worker_and_why_before_its_exit()
        {
            var log = new HostEventWatch();
            var options = TestEnvironment.Worker();
            options.OnHostEvent = log.Add;
            var worker = await WorkerProcess.StartAsync(options);
            worker.Kill();
            var info = await worker.WaitForExitAsync();
            var events = log.All;
            Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[] { HostEventKind.WorkerStarted, HostEventKind.Killed, HostEventKind.WorkerExited }), log.Show());
            Mentions.All(events[1].Message, "killing worker " + worker.ProcessId, "the host", "WorkerProcess.Kill");
            Assert.That(events[2].Level, Is.EqualTo(HostEventLevel.Warning), "an end the host did not plan as a stop");
            Mentions.All(events[2].Message, "killed by the host", "SIGKILL");
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Killed));
        }

        [Test, Timeout(60000)]
        public async Task A_start_that_takes_more_than_half_the_start_timeout_reports_SlowStart()
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_slow.py"), "import sys, time\ntime.sleep(5.5)\nfrom worker.cli import main\nsys.exit(main())\n");
            var log = new HostEventWatch();
            var options = TestEnvironment.Worker();
            options.Module = "hfw_slow";
            options.WorkingDirectory = Scratch;
            options.StartTimeout = TimeSpan.FromSeconds(10);
            options.OnHostEvent = log.Add;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var events = log.All;
                Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[] { HostEventKind.WorkerStarted, HostEventKind.SlowStart }), log.Show());
                Assert.That(events[1].Level, Is.EqualTo(HostEventLevel.Warning));
                Assert.That(events[1].ProcessId, Is.EqualTo(worker.ProcessId));
                Mentions.All(events[1].Message, "more than half its StartTimeout of 10 s");
            }
        }

        [Test, Timeout(30000)]
        public async Task A_start_that_fails_reports_StartFailed_with_the_reason()
        {
            var log = new HostEventWatch();
            var options = TestEnvironment.Worker();
            options.VirtualEnvironment = Path.Combine(Scratch, "no-such-venv");
            options.OnHostEvent = log.Add;
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Mentions.All(error.Message, "the virtual environment " + options.VirtualEnvironment + " does not exist");
            var events = log.All;
            Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[] { HostEventKind.StartFailed }), log.Show());
            Assert.That(events[0].Level, Is.EqualTo(HostEventLevel.Error));
            Assert.That(events[0].ProcessId, Is.EqualTo(0), "no process was started");
            Mentions.All(events[0].Message, options.VirtualEnvironment);
        }

        /// <summary>A call answered only once <see cref="Release"/> is called with the same key.</summary>
        private static Task<object> HeldCall(WorkerProcess worker, string key)
        {
            return worker.InvokeAsync("test/hang", Params.Of("seconds", 60.0, "release", key));
        }

        private static Task<object> Release(WorkerProcess worker, string key)
        {
            return worker.InvokeAsync("test/release", Params.Of("key", key));
        }

        [Test, Timeout(30000)]
        public async Task A_continuation_that_blocks_the_reader_reports_ReaderTakenOver_and_both_calls_are_answered()
        {
            var log = new HostEventWatch();
            var options = TestEnvironment.Worker();
            options.OnHostEvent = log.Add;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var ping = new Invocation<object>("worker/ping", null, r => r.ReadValue());
                // Sync over async inside a continuation, which runs on the worker's reader (registered before the answer
                // can come: the call waits for its release): only a new reader can answer it.
                var both = HeldCall(worker, "blocking").ContinueWith(t => worker.InvokeAsync(ping).Result == null,
                    TaskContinuationOptions.ExecuteSynchronously);
                await Release(worker, "blocking");
                Assert.That(await both, Is.True);
                Assert.That(worker.ReaderTakeOvers, Is.EqualTo(1));
                // The event is raised off the watch's thread, which must never run an application's handler.
                await AsyncAssert.Eventually(() => log.All.Any(e => e.Kind == HostEventKind.ReaderTakenOver), TimeSpan.FromSeconds(20), "ReaderTakenOver");
                var taken = log.All.Where(e => e.Kind == HostEventKind.ReaderTakenOver).ToArray();
                Assert.That(taken.Length, Is.EqualTo(1), log.Show());
                Assert.That(taken[0].Level, Is.EqualTo(HostEventLevel.Warning));
                Assert.That(taken[0].ProcessId, Is.EqualTo(worker.ProcessId));
                Mentions.All(taken[0].Message, "waited for over", "another thread reads");
            }
        }

        [Test, Timeout(30000)]
        public async Task Dispose_in_the_last_calls_continuation_hands_the_reader_on_quietly_and_stops_the_worker()
        {
            var log = new HostEventWatch();
            var options = TestEnvironment.Worker();
            options.OnHostEvent = log.Add;
            var worker = await WorkerProcess.StartAsync(options);
            // The end of a using block after an await: Dispose runs where the answer was handed out, on the reader, and
            // waits for the worker's end, which only a reader can see.
            var disposed = HeldCall(worker, "last").ContinueWith(t =>
            {
                worker.Dispose();
                return worker.ExitInfo;
            }, TaskContinuationOptions.ExecuteSynchronously);
            await Release(worker, "last");
            var info = await disposed;
            Assert.That(info, Is.Not.Null, "Dispose returned with the end settled");
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Stopped), info.Summary);
            Assert.That(worker.ReaderTakeOvers, Is.EqualTo(1), "reading was handed on once, by Dispose itself");
            Assert.That(log.All.Any(e => e.Kind == HostEventKind.ReaderTakenOver), Is.False, "the library knew it would block: " + log.Show());
        }
    }
}
