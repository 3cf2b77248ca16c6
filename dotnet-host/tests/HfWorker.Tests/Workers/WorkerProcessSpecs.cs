using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>A real worker process from the repository's .venv, over both transports.</summary>
    [TestFixture]
    public class WorkerProcessSpecs
    {
        private static Task<WorkerProcess> Start(WorkerTransport transport, Action<WorkerProcessOptions> configure = null)
        {
            var options = TestEnvironment.Worker(transport);
            if (configure != null) configure(options);
            return WorkerProcess.StartAsync(options);
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task A_worker_starts_and_introduces_itself_with_worker_ready(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            {
                var ready = worker.ReadyInfo;
                Assert.That(ready.Protocol, Is.EqualTo(1));
                Assert.That(ready.ProcessId, Is.EqualTo(worker.ProcessId));
                Assert.That(ready.Transport, Is.EqualTo(transport == WorkerTransport.Stdio ? "stdio" : "pipe"));
                Assert.That(ready.Framing, Is.EqualTo("length"));
                Assert.That(ready.Encoding, Is.EqualTo("msgpack"));
                Assert.That(ready.Methods, Has.Member("worker/ping").And.Member("test/echo"));
                Assert.That(await worker.PingAsync(TimeSpan.FromSeconds(5)), Is.LessThan(TimeSpan.FromSeconds(1)));
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task Values_make_the_round_trip_through_the_worker_unchanged(WorkerTransport transport)
        {
            var value = new Dictionary<string, object>
            {
                { "text", "héllo 漢字 🤗" }, { "bytes", Enumerable.Range(0, 300).Select(i => (byte)i).ToArray() },
                { "ints", new object[] { 0L, -1L, 255L, long.MaxValue, long.MinValue, ulong.MaxValue } },
                { "floats", new object[] { 0.1, -2.5e300, double.PositiveInfinity } }, { "nothing", null }, { "yes", true },
                { "nested", new Dictionary<string, object> { { "empty", new object[0] }, { "map", new Dictionary<string, object>() } } },
                { "long text", new string('x', 100000) },
            };
            using (var worker = await Start(transport))
            {
                var echoed = await worker.InvokeAsync("test/echo", Params.Of("value", value));
                Assert.That(Values.Same(echoed, value), Is.True, Values.Show(echoed));
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task Hundreds_of_concurrent_calls_are_each_answered_with_their_own_result(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            {
                var calls = Enumerable.Range(0, 300).Select(i => worker.InvokeAsync("test/echo", Params.Of("value", i))).ToList();
                var results = await Task.WhenAll(calls);
                Assert.That(results, Is.EqualTo(Enumerable.Range(0, 300).Select(i => (object)(long)i).ToArray()));
                Assert.That(worker.InFlight, Is.EqualTo(0));
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task A_bad_call_gets_a_clear_error_and_the_worker_keeps_serving(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            {
                var missing = await AsyncAssert.Throws<WorkerRpcException>(() => worker.InvokeAsync("no/such-method"));
                Assert.That(missing.ErrorCode, Is.EqualTo(RpcErrorCode.MethodNotFound));
                Mentions.All(missing.Message, "no/such-method");
                var typo = await AsyncAssert.Throws<WorkerRpcException>(() => worker.InvokeAsync("test/sleep", Params.Of("secnds", 1)));
                Assert.That(typo.ErrorCode, Is.EqualTo(RpcErrorCode.InvalidParams));
                Mentions.All(typo.RemoteMessage, "secnds");
                Assert.That(await worker.InvokeAsync("test/echo", Params.Of("value", "still here")), Is.EqualTo("still here"));
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task Cancelling_a_slow_call_ends_it_at_once_and_the_worker_stops_the_work(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            {
                var cts = new CancellationTokenSource();
                var slow = worker.InvokeAsync("test/sleep", Params.Of("seconds", 30), cts.Token);
                await Task.Delay(200);
                var clock = Stopwatch.StartNew();
                cts.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => slow);
                Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)));
                await AsyncAssert.Eventually(() => worker.InFlight == 0, TimeSpan.FromSeconds(5), "the worker answers -32800");
                var info = (Dictionary<string, object>)await worker.InvokeAsync("worker/info");
                Assert.That(info["inflight"], Is.EqualTo(0L), "the worker has nothing in flight (worker/info is answered inline)");
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task A_call_cancelled_before_its_request_was_sent_is_still_stopped_on_the_worker(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            using (var cts = new CancellationTokenSource())
            {
                // The token fires after the call began, before its request is on the wire (while its params are
                // built). A cancel that overtook the request would name an id the worker does not know yet: it would
                // be ignored, and the 60 s sleep would run to its end with the call in flight.
                var sleep = new Invocation<object>("test/sleep", _ =>
                {
                    cts.Cancel();
                    return Params.Of("seconds", 60);
                }, (reader, _) => reader.ReadValue());
                await AsyncAssert.Throws<OperationCanceledException>(() => worker.InvokeAsync(sleep, cts.Token));
                await AsyncAssert.Eventually(() => worker.InFlight == 0, TimeSpan.FromSeconds(15), "the worker answers -32800: it was told to stop");
                var info = (Dictionary<string, object>)await worker.InvokeAsync("worker/info");
                Assert.That(info["inflight"], Is.EqualTo(0L), "nothing runs on in the worker");
            }
        }

        private sealed class RecordingProgress : IProgress<object>
        {
            public readonly List<double> Fractions = new List<double>();
            public Task Result;
            public bool ReportedAfterResult;

            public void Report(object value)
            {
                if (Result != null && Result.IsCompleted) ReportedAfterResult = true;
                Fractions.Add((double)((Dictionary<string, object>)value)["fraction"]);
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task Progress_reports_arrive_in_order_before_the_result(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            {
                var progress = new RecordingProgress();
                var call = worker.InvokeAsync("test/sleep", Params.Of("seconds", 0.6, "progress_interval", 0.1), progress);
                progress.Result = call;
                var result = (Dictionary<string, object>)await call;
                Assert.That(result["slept_seconds"], Is.GreaterThanOrEqualTo(0.6));
                Assert.That(progress.Fractions.Count, Is.GreaterThanOrEqualTo(3));
                Assert.That(progress.Fractions, Is.Ordered);
                Assert.That(progress.ReportedAfterResult, Is.False);
            }
        }

        [Test, Timeout(30000)]
        public async Task A_call_over_its_timeout_fails_with_CallTimeoutException_and_is_cancelled_on_the_worker()
        {
            using (var worker = await Start(WorkerTransport.Stdio))
            {
                var sleep = new Invocation<object>("test/sleep", Params.Of("seconds", 30), r => r.ReadValue()) { Timeout = TimeSpan.FromMilliseconds(300) };
                var error = await AsyncAssert.Throws<CallTimeoutException>(() => worker.InvokeAsync(sleep));
                Mentions.All(error.Message, "test/sleep", "300 ms");
                await AsyncAssert.Eventually(() => worker.InFlight == 0, TimeSpan.FromSeconds(5), "the worker stopped the sleep");
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task Stray_writes_to_stdout_never_reach_the_protocol_and_show_up_as_stderr_lines(WorkerTransport transport)
        {
            var lines = new List<string>();
            using (var worker = await Start(transport, o => o.OnStderrLine = (w, line) => { lock (lines) lines.Add(line); }))
            {
                var result = (Dictionary<string, object>)await worker.InvokeAsync("test/print", Params.Of("text", "POLLUTION-1234"));
                Assert.That(((object[])result["channels"]).Length, Is.GreaterThanOrEqualTo(4));
                Assert.That(await worker.InvokeAsync("test/echo", Params.Of("value", "clean")), Is.EqualTo("clean"));
                await AsyncAssert.Eventually(() => { lock (lines) return lines.Count(l => l.Contains("POLLUTION-1234")) >= 4; },
                    TimeSpan.FromSeconds(5), "every stray write is seen as output");
                Assert.That(worker.StderrTail.Any(l => l.Contains("worker ready")), Is.True, "the worker's own log lines are kept");
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task A_crash_fails_the_calls_in_flight_with_the_exit_code_and_the_last_stderr_lines(WorkerTransport transport)
        {
            using (var worker = await Start(transport))
            {
                var exited = new TaskCompletionSource<WorkerExitInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
                worker.Exited += (sender, args) => exited.TrySetResult(args.ExitInfo);
                var sleeping = worker.InvokeAsync("test/sleep", Params.Of("seconds", 30));
                var crash = await AsyncAssert.Throws<WorkerCrashedException>(() => worker.InvokeAsync("test/crash", Params.Of("exit_code", 3)));
                Assert.That(crash.ExitCode, Is.EqualTo(3));
                Assert.That(crash.Method, Is.EqualTo("test/crash"));
                Mentions.All(crash.StderrTail.Last(), "test/crash: exiting with code 3");
                Mentions.All(crash.Message, "test/crash", "exit code 3", "exiting with code 3");
                var bystander = await AsyncAssert.Throws<WorkerCrashedException>(() => sleeping);
                Assert.That(bystander.ExitInfo, Is.SameAs(crash.ExitInfo));
                var info = await exited.Task;
                Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Exited));
                Assert.That(worker.HasExited, Is.True);
                var later = await AsyncAssert.Throws<WorkerCrashedException>(() => worker.InvokeAsync("worker/ping"));
                Assert.That(later.ExitCode, Is.EqualTo(3), "a call after the crash fails at once, with the same facts");
            }
        }

        [Test, Timeout(30000)]
        public async Task A_worker_killed_from_outside_fails_its_calls_with_the_signal_in_the_exit_code()
        {
            using (var worker = await Start(WorkerTransport.Stdio))
            {
                var sleeping = worker.InvokeAsync("test/sleep", Params.Of("seconds", 30));
                using (var process = Process.GetProcessById(worker.ProcessId)) process.Kill();
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => sleeping);
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Exited));
                Assert.That(error.ExitCode, Is.EqualTo(137), "128 + SIGKILL");
                Mentions.All(error.Message, "SIGKILL");
            }
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task Stopping_lets_the_call_in_flight_finish_then_the_worker_exits_0(WorkerTransport transport)
        {
            var worker = await Start(transport);
            var sleeping = worker.InvokeAsync("test/sleep", Params.Of("seconds", 0.5));
            await Task.Delay(100);
            var info = await worker.StopAsync(TimeSpan.FromSeconds(5));
            Assert.That(((Dictionary<string, object>)await sleeping)["slept_seconds"], Is.GreaterThanOrEqualTo(0.5));
            Assert.That(info.ExitCode, Is.EqualTo(0));
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Stopped));
            Assert.That(info.Unexpected, Is.False);
            var after = await AsyncAssert.Throws<WorkerExitedException>(() => worker.InvokeAsync("worker/ping"));
            Assert.That(after, Is.Not.InstanceOf<WorkerCrashedException>(), "a stopped worker did not crash");
        }

        [Test, Timeout(30000)]
        public async Task Stopping_a_frozen_worker_kills_it_after_the_grace_period()
        {
            var worker = await Start(WorkerTransport.Stdio);
            var frozen = worker.InvokeAsync("test/hang", Params.Of("seconds", 60, "hold_gil", true));
            await Task.Delay(300);
            var clock = Stopwatch.StartNew();
            var info = await worker.StopAsync(TimeSpan.FromMilliseconds(500));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(7)), "grace period plus 5 seconds at most");
            Assert.That(info.Reason, Is.EqualTo(WorkerExitReason.Killed));
            Mentions.All(info.Detail, "worker/shutdown");
            await AsyncAssert.Throws<WorkerCrashedException>(() => frozen);
        }

        [Test, Timeout(30000)]
        public async Task A_notification_gets_no_answer_and_the_worker_keeps_serving()
        {
            using (var worker = await Start(WorkerTransport.Stdio))
            {
                await worker.NotifyAsync("test/echo", Params.Of("value", 1));
                await worker.NotifyAsync("no/such-method");
                Assert.That(await worker.InvokeAsync("test/echo", Params.Of("value", 2)), Is.EqualTo(2L));
                Assert.That(worker.InFlight, Is.EqualTo(0));
                Assert.That(worker.StderrTail.Any(l => l.Contains("no/such-method")), Is.True, "the worker logs what it ignored");
            }
        }

        [Test, Timeout(30000)]
        public async Task The_worker_is_told_to_exit_when_its_host_is_gone()
        {
            using (var worker = await Start(WorkerTransport.Stdio))
            {
                var commandLine = System.IO.File.ReadAllText("/proc/" + worker.ProcessId + "/cmdline").Split('\0');
                int host;
                using (var self = Process.GetCurrentProcess()) host = self.Id;
                int at = Array.IndexOf(commandLine, "--parent-pid");
                Assert.That(at, Is.GreaterThan(0));
                Assert.That(commandLine[at + 1], Is.EqualTo(host.ToString()));
            }
        }
    }
}
