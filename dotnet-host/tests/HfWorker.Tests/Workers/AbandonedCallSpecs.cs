using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>
    /// A call the host gave up on (cancelled, timed out) whose handler goes on in the worker is counted in
    /// <see cref="WorkerProcess.AbandonedCalls"/> until the worker's <c>worker/handlerDone</c> says it stopped.
    /// </summary>
    [TestFixture]
    public class AbandonedCallSpecs
    {
        private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

        private static Task<WorkerProcess> Start(HostEventWatch events)
        {
            var options = TestEnvironment.Worker();
            options.OnHostEvent = events.Add;
            return WorkerProcess.StartAsync(options);
        }

        /// <summary>A test/hang running on <paramref name="worker"/> (its report that it began has arrived).</summary>
        private static async Task<Task<object>> HangAsync(WorkerProcess worker, string key, CancellationToken token, TimeSpan? timeout = null)
        {
            var began = new Reports();
            var invocation = new Invocation<object>("test/hang", AbandonedWork.Hang(key), r => r.ReadValue()) { Progress = began, Timeout = timeout };
            var call = worker.InvokeAsync(invocation, token);
            await Task.WhenAny(began.First, call);
            Assert.That(began.First.IsCompleted, Is.True, "the hang never reported that it began: " + call.Status);
            return call;
        }

        [Test, Timeout(60000)]
        public async Task A_cancelled_call_whose_handler_goes_on_counts_as_abandoned_until_the_worker_says_it_stopped()
        {
            var events = new HostEventWatch();
            using (var worker = await Start(events))
            {
                var notifications = new List<string>();
                worker.NotificationReceived += (sender, args) => { lock (notifications) notifications.Add(args.Method); };
                var key = AbandonedWork.NewKey();
                var cancel = new CancellationTokenSource();
                var hang = await HangAsync(worker, key, cancel.Token);
                Assert.That(worker.AbandonedCalls, Is.EqualTo(0), "running, and waited for: not abandoned");

                cancel.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => hang);
                // The worker's -32800 said its handler still runs: the host counts it.
                var abandoned = await events.First(HostEventKind.CallAbandoned, worker.ProcessId, Within);
                Mentions.All(abandoned.Message, "test/hang");
                Assert.That(worker.AbandonedCalls, Is.EqualTo(1));
                Assert.That(worker.InFlight, Is.EqualTo(0), "answered: nothing in flight, yet the worker is busy");

                await worker.InvokeAsync("test/release", Params.Of("key", key));
                var stopped = await events.First(HostEventKind.AbandonedCallStopped, worker.ProcessId, Within);
                Mentions.All(stopped.Message, "test/hang", "worker/handlerDone");
                Assert.That(worker.AbandonedCalls, Is.EqualTo(0));
                // worker/handlerDone is the host's business, not the application's.
                await worker.PingAsync(TimeSpan.FromSeconds(10));
                lock (notifications) Assert.That(notifications, Has.No.Member("worker/handlerDone"));
                Assert.That(events.Of(HostEventKind.AbandonedCallStopped).Length, Is.EqualTo(1));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_timed_out_call_whose_handler_goes_on_counts_as_abandoned_until_it_stops()
        {
            var events = new HostEventWatch();
            using (var worker = await Start(events))
            {
                var key = AbandonedWork.NewKey();
                // Long enough for the hang to begin on a busy machine: the spec needs its handler running.
                var hang = await HangAsync(worker, key, CancellationToken.None, TimeSpan.FromSeconds(3));
                await AsyncAssert.Throws<CallTimeoutException>(() => hang);
                await events.First(HostEventKind.CallAbandoned, worker.ProcessId, Within);
                Assert.That(worker.AbandonedCalls, Is.EqualTo(1));

                await worker.InvokeAsync("test/release", Params.Of("key", key));
                await events.First(HostEventKind.AbandonedCallStopped, worker.ProcessId, Within);
                Assert.That(worker.AbandonedCalls, Is.EqualTo(0));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_cancelled_call_that_stops_at_once_leaves_nothing_counted()
        {
            var events = new HostEventWatch();
            using (var worker = await Start(events))
            {
                var cancel = new CancellationTokenSource();
                var began = new Reports();
                var sleep = worker.InvokeAsync("test/sleep", Params.Of("seconds", 3600, "progress_interval", 0.05), began, cancel.Token);
                await Task.WhenAny(began.First, sleep);
                cancel.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => sleep);
                // test/sleep checks for cancellation: its handler returns at once, and the worker says so.
                await events.First(HostEventKind.AbandonedCallStopped, worker.ProcessId, Within);
                Assert.That(worker.AbandonedCalls, Is.EqualTo(0));
                Assert.That(worker.InFlight, Is.EqualTo(0));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_worker_that_ends_takes_its_abandoned_calls_with_it()
        {
            var events = new HostEventWatch();
            using (var worker = await Start(events))
            {
                var cancel = new CancellationTokenSource();
                var hang = await HangAsync(worker, AbandonedWork.NewKey(), cancel.Token);
                cancel.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => hang);
                await events.First(HostEventKind.CallAbandoned, worker.ProcessId, Within);
                Assert.That(worker.AbandonedCalls, Is.EqualTo(1));
                worker.Kill();
                await worker.WaitForExitAsync();
                Assert.That(worker.AbandonedCalls, Is.EqualTo(0));
            }
        }
    }
}
