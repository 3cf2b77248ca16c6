using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>Where a pool's calls go, and what happens when there is no room.</summary>
    [TestFixture]
    public class WorkerPoolRoutingSpecs
    {
        [Test, Timeout(30000)]
        public async Task Argument_errors_come_back_as_faulted_tasks_from_a_worker_and_a_pool_alike()
        {
            using (var pool = await PoolTesting.Start(1))
            {
                var worker = pool.Workers.Single();
                foreach (var invoker in new IWorkerInvoker[] { worker, pool })
                {
                    string who = invoker.GetType().Name;
                    Task<object> call = null;
                    Assert.DoesNotThrow(() => call = invoker.InvokeAsync((Invocation<object>)null), who);
                    Assert.That(call.IsFaulted && call.Exception.GetBaseException() is ArgumentNullException, who + ": " + call.Status);
                    Assert.DoesNotThrow(() => call = invoker.InvokeAsync(""), who);
                    Assert.That(call.IsFaulted && call.Exception.GetBaseException() is ArgumentException, who + ": " + call.Status);
                    Assert.DoesNotThrow(() => call = invoker.InvokeAsync<object>("worker/ping", null, (ResultReader<object>)null), who);
                    Assert.That(call.IsFaulted && call.Exception.GetBaseException() is ArgumentNullException, who + ": " + call.Status);
                }
                // A call pinned to another worker's handle: refused by the task, not by a throw.
                using (var stranger = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
                {
                    var pinned = new Invocation<object>("worker/ping", null, r => r.ReadValue()) { Affinity = stranger };
                    Task<object> call = null;
                    Assert.DoesNotThrow(() => call = worker.InvokeAsync(pinned));
                    var error = await AsyncAssert.Throws<ArgumentException>(() => call);
                    Mentions.All(error.Message, "lives on worker process " + stranger.ProcessId);
                }
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", 1)), Is.EqualTo(1L), "the pool still serves");
            }
        }

        [Test]
        public void Pool_statistics_name_every_counter_in_one_line()
        {
            var statistics = new WorkerPoolStatistics
            {
                Workers = 2, ReadyWorkers = 1, InFlight = 3, AbandonedCalls = 4, QueueLength = 5, WaitingForQueue = 6, Succeeded = 7,
                Failed = 8, TimedOut = 9, Rejected = 10, Cancelled = 11, Retried = 12, Restarts = 13, FailedStarts = 14, HungWorkersKilled = 15,
            };
            Mentions.All(statistics.ToString(), "workers 1/2", "in flight 3", "abandoned 4", "queued 5", "waiting for the queue 6",
                "succeeded 7", "failed 8", "timed out 9", "rejected 10", "cancelled 11", "retried 12", "restarts 13", "failed starts 14",
                "hung killed 15");
        }

        [Test, Timeout(30000)]
        public async Task Calls_go_to_the_least_loaded_worker()
        {
            // No health pings: they would count in WorkerProcess.InFlight beside the six calls.
            using (var pool = await PoolTesting.Start(2, o => o.HealthCheckInterval = TimeSpan.FromMinutes(10)))
            {
                var calls = Enumerable.Range(0, 6).Select(_ => pool.InvokeAsync("test/sleep", Params.Of("seconds", 2))).ToList();
                await AsyncAssert.Eventually(() => pool.Workers.Sum(w => w.InFlight) == 6, TimeSpan.FromSeconds(5), "all six calls sent");
                Assert.That(pool.Workers.Select(w => w.InFlight), Is.EqualTo(new[] { 3, 3 }));
                Assert.That(pool.Statistics.InFlight, Is.EqualTo(6));
                await Task.WhenAll(calls);
                Assert.That(pool.Statistics.Succeeded, Is.EqualTo(6));
                Assert.That(pool.Statistics.InFlight, Is.EqualTo(0));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_caller_holding_its_answer_sees_the_pool_counters_account_for_it()
        {
            // The answer used to be handed over before the worker's slot was released, so a caller
            // could read one call still in flight after awaiting all of them (seen in CI).
            using (var pool = await PoolTesting.Start(2))
            {
                for (int i = 1; i <= 400; i++)
                {
                    var answers = await Task.WhenAll(pool.InvokeAsync("test/echo", Params.Of("value", i)), pool.InvokeAsync("test/echo", Params.Of("value", -i)));
                    Assert.That(answers, Is.EqualTo(new object[] { (long)i, (long)-i }));
                    var statistics = pool.Statistics;
                    Assert.That(statistics.InFlight, Is.EqualTo(0), "in flight after round " + i);
                    Assert.That(statistics.Succeeded, Is.EqualTo(2 * i), "succeeded after round " + i);
                }
            }
        }

        [Test, Timeout(30000)]
        public async Task A_full_queue_refuses_new_calls_when_the_pool_is_set_to_refuse()
        {
            using (var pool = await PoolTesting.Start(1, o => { o.MaxCallsPerWorker = 1; o.MaxQueueLength = 1; o.WhenQueueFull = QueueFullBehavior.Throw; }))
            {
                var running = pool.InvokeAsync("test/sleep", Params.Of("seconds", 0.5));
                var queued = pool.InvokeAsync("test/sleep", Params.Of("seconds", 0.1));
                await AsyncAssert.Eventually(() => pool.Statistics.QueueLength == 1, TimeSpan.FromSeconds(5), "one call queued");
                var refused = await AsyncAssert.Throws<PoolOverloadedException>(() => pool.InvokeAsync("test/echo", Params.Of("value", 1)));
                Mentions.All(refused.Message, "test/echo", "queue is full");
                await Task.WhenAll(running, queued);
                Assert.That(pool.Statistics.Rejected, Is.EqualTo(1));
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", 2)), Is.EqualTo(2L), "room again once the queue drained");
            }
        }

        [Test, Timeout(30000)]
        public async Task A_full_queue_makes_callers_wait_when_the_pool_applies_backpressure()
        {
            using (var pool = await PoolTesting.Start(1, o => { o.MaxCallsPerWorker = 1; o.MaxQueueLength = 1; }))
            {
                var running = pool.InvokeAsync("test/sleep", Params.Of("seconds", 0.5));
                var queued = pool.InvokeAsync("test/sleep", Params.Of("seconds", 0.1));
                await AsyncAssert.Eventually(() => pool.Statistics.QueueLength == 1, TimeSpan.FromSeconds(5), "one call queued");
                var waiting = pool.InvokeAsync("test/echo", Params.Of("value", "patient"));
                await AsyncAssert.Eventually(() => pool.Statistics.WaitingForQueue == 1, TimeSpan.FromSeconds(5), "the third caller waits for room");
                Assert.That(waiting.IsCompleted, Is.False);
                Assert.That(await waiting, Is.EqualTo("patient"));
                await Task.WhenAll(running, queued);
                Assert.That(pool.Statistics.Succeeded, Is.EqualTo(3));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_call_over_the_pool_timeout_fails_and_is_cancelled_on_its_worker()
        {
            using (var pool = await PoolTesting.Start(1, o => o.CallTimeout = TimeSpan.FromMilliseconds(400)))
            {
                var error = await AsyncAssert.Throws<CallTimeoutException>(() => pool.InvokeAsync("test/sleep", Params.Of("seconds", 30)));
                Mentions.All(error.Message, "test/sleep", "400 ms");
                await AsyncAssert.Eventually(() => pool.Workers[0].InFlight == 0, TimeSpan.FromSeconds(5), "the worker stopped sleeping");
                Assert.That(pool.Statistics.TimedOut, Is.EqualTo(1));
            }
        }

        [Test, Timeout(30000)]
        public async Task Calls_that_run_out_of_time_queued_or_waiting_for_room_fail_without_reaching_a_worker()
        {
            using (var pool = await PoolTesting.Start(1, o => { o.MaxCallsPerWorker = 1; o.MaxQueueLength = 1; }))
            {
                var running = pool.InvokeAsync("test/hang", Params.Of("seconds", 60.0, "release", "out-of-time"));
                // Queued behind the running call, then a caller waiting for room in the full queue; each with its own timeout.
                var queued = pool.InvokeAsync(new Invocation<object>("test/echo", Params.Of("value", 1), r => r.ReadValue()) { Timeout = TimeSpan.FromMilliseconds(600) });
                var waiting = pool.InvokeAsync(new Invocation<object>("test/echo", Params.Of("value", 2), r => r.ReadValue()) { Timeout = TimeSpan.FromMilliseconds(200) });
                var waitingError = await AsyncAssert.Throws<CallTimeoutException>(() => waiting);
                Mentions.All(waitingError.Message, "test/echo", "200 ms", "queued or running in the pool");
                var queuedError = await AsyncAssert.Throws<CallTimeoutException>(() => queued);
                Mentions.All(queuedError.Message, "test/echo", "600 ms", "queued or running in the pool");
                var statistics = pool.Statistics;
                Assert.That(statistics.TimedOut, Is.EqualTo(2));
                Assert.That(statistics.QueueLength, Is.EqualTo(0));
                Assert.That(statistics.WaitingForQueue, Is.EqualTo(0));
                Assert.That(running.IsCompleted, Is.False, "the running call is untouched");
                // Straight to the busy worker: through the pool the release would queue behind the hang.
                await pool.Workers[0].InvokeAsync("test/release", Params.Of("key", "out-of-time"));
                await running;
                Assert.That(pool.Statistics.Succeeded, Is.EqualTo(1));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_caller_waiting_for_room_with_a_CallTimeout_of_weeks_waits_for_room()
        {
            // Past int.MaxValue ms, which a per-call timer (CancelAfter) refuses.
            using (var pool = await PoolTesting.Start(1, o => { o.MaxCallsPerWorker = 1; o.MaxQueueLength = 1; o.CallTimeout = TimeSpan.FromDays(30); }))
            {
                var running = pool.InvokeAsync("test/hang", Params.Of("seconds", 60.0, "release", "weeks"));
                var queued = pool.InvokeAsync("test/echo", Params.Of("value", 1));
                await AsyncAssert.Eventually(() => pool.Statistics.QueueLength == 1, TimeSpan.FromSeconds(5), "one call queued");
                var waiting = pool.InvokeAsync("test/echo", Params.Of("value", "patient"));
                await AsyncAssert.Eventually(() => pool.Statistics.WaitingForQueue == 1, TimeSpan.FromSeconds(5), "the third caller waits for room");
                await pool.Workers[0].InvokeAsync("test/release", Params.Of("key", "weeks"));
                Assert.That(await waiting, Is.EqualTo("patient"));
                await Task.WhenAll(running, queued);
            }
        }

        [Test, Timeout(30000)]
        public async Task A_CallTimeoutException_that_is_not_the_pools_clock_is_not_reported_as_the_pools_timeout()
        {
            using (var pool = await PoolTesting.Start(1))
            {
                // Thrown while the request's params are written (a nested call's timeout, say), with the pool's time left.
                var inner = new CallTimeoutException("other/call", TimeSpan.FromMilliseconds(5));
                var call = new Invocation<object>("test/echo", worker => { throw inner; }, (r, w) => r.ReadValue());
                var error = await AsyncAssert.Throws<CallTimeoutException>(() => pool.InvokeAsync(call));
                Assert.That(error, Is.SameAs(inner));
                Assert.That(pool.Statistics.TimedOut, Is.EqualTo(0));
                Assert.That(pool.Statistics.Failed, Is.EqualTo(1));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_queued_call_can_be_cancelled_before_it_reaches_a_worker()
        {
            using (var pool = await PoolTesting.Start(1, o => o.MaxCallsPerWorker = 1))
            {
                var running = pool.InvokeAsync("test/sleep", Params.Of("seconds", 0.5));
                var cts = new CancellationTokenSource();
                var queued = pool.InvokeAsync("test/echo", Params.Of("value", 1), cts.Token);
                await AsyncAssert.Eventually(() => pool.Statistics.QueueLength == 1, TimeSpan.FromSeconds(5), "one call queued");
                cts.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => queued);
                Assert.That(pool.Statistics.QueueLength, Is.EqualTo(0));
                Assert.That(pool.Statistics.Cancelled, Is.EqualTo(1));
                await running;
            }
        }

        [Test, Timeout(30000)]
        public async Task Stray_stdout_writes_in_one_worker_disturb_no_call()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var calls = Enumerable.Range(0, 20).Select(i => i % 2 == 0
                    ? pool.InvokeAsync("test/print", Params.Of("text", "noise " + i))
                    : pool.InvokeAsync("test/echo", Params.Of("value", i))).ToList();
                await Task.WhenAll(calls);
                Assert.That(pool.Statistics.Succeeded, Is.EqualTo(20));
                Assert.That(pool.Statistics.Restarts, Is.EqualTo(0));
            }
        }

        [Test, Timeout(30000)]
        public async Task Stopping_the_pool_fails_the_queued_calls_and_lets_the_running_ones_finish()
        {
            var pool = await PoolTesting.Start(1, o => o.MaxCallsPerWorker = 1);
            var worker = pool.Workers[0];
            var running = pool.InvokeAsync("test/sleep", Params.Of("seconds", 0.5));
            var queued = pool.InvokeAsync("test/echo", Params.Of("value", 1));
            await AsyncAssert.Eventually(() => pool.Statistics.QueueLength == 1, TimeSpan.FromSeconds(5), "one call queued");
            await pool.StopAsync();
            var error = await AsyncAssert.Throws<ObjectDisposedException>(() => queued);
            Mentions.All(error.Message, "test/echo", "stopped before the call reached a worker");
            Assert.That(((System.Collections.Generic.Dictionary<string, object>)await running)["slept_seconds"], Is.GreaterThanOrEqualTo(0.5));
            Assert.That(worker.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Stopped));
            Assert.That(worker.ExitInfo.ExitCode, Is.EqualTo(0));
            await AsyncAssert.Throws<ObjectDisposedException>(() => pool.InvokeAsync("worker/ping"));
        }
    }
}
