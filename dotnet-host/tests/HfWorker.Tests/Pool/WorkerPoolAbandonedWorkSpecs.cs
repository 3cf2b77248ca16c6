using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>
    /// A cancel or a timeout frees the caller at once but not the worker: a pool counts the work a worker still
    /// does for calls nobody waits for (<see cref="WorkerProcess.AbandonedCalls"/>) in its routing and its
    /// per-worker limit, until the worker says that work has stopped (issue 10: after a cancelled embed, a tiny
    /// call routed to the still-busy worker took 11.8 s).
    /// </summary>
    [TestFixture]
    public class WorkerPoolAbandonedWorkSpecs
    {
        private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

        private static Task<WorkerPool> Start(HostEventWatch events, int maxCallsPerWorker)
        {
            return PoolTesting.Start(2, o =>
            {
                o.MaxCallsPerWorker = maxCallsPerWorker;
                o.Worker.OnHostEvent = events.Add;
                o.HealthCheckInterval = TimeSpan.FromMinutes(10);  // no pings among the calls counted below
            });
        }

        /// <summary>A test/hang through the pool, its handler running on the returned worker; it ignores cancellation until released.</summary>
        private static async Task<Tuple<Task<object>, WorkerProcess>> HangAsync(WorkerPool pool, string key, CancellationToken token, TimeSpan? timeout = null)
        {
            var began = new Reports();
            var invocation = new Invocation<object>("test/hang", AbandonedWork.Hang(key), r => r.ReadValue()) { Progress = began, Timeout = timeout };
            var call = pool.InvokeAsync(invocation, token);
            await Task.WhenAny(began.First, call);
            Assert.That(began.First.IsCompleted, Is.True, "the hang never reported that it began: " + call.Status);
            var busy = pool.Workers.Single(w => w.InFlight == 1);
            return Tuple.Create(call, busy);
        }

        /// <summary>Which worker answered: <c>worker/info</c> through the pool, routed like any call.</summary>
        private static async Task<long> AnsweringPid(WorkerPool pool)
        {
            var info = (Dictionary<string, object>)await pool.InvokeAsync("worker/info");
            return (long)info["pid"];
        }

        [Test, Timeout(90000)]
        public async Task After_a_cancelled_call_that_goes_on_in_its_worker_the_next_calls_go_to_the_other_worker()
        {
            var events = new HostEventWatch();
            using (var pool = await Start(events, 64))
            {
                var key = AbandonedWork.NewKey();
                var cancel = new CancellationTokenSource();
                var started = await HangAsync(pool, key, cancel.Token);
                var busy = started.Item2;
                var other = pool.Workers.Single(w => w != busy);

                cancel.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => started.Item1);
                await events.First(HostEventKind.CallAbandoned, busy.ProcessId, Within);
                var statistics = pool.Statistics;
                Assert.That(statistics.InFlight, Is.EqualTo(0), "the pool call has ended");
                Assert.That(statistics.AbandonedCalls, Is.EqualTo(1), "but its work goes on: " + statistics);
                Assert.That(statistics.Cancelled, Is.EqualTo(1));

                // Least loaded: the worker still busy with the hang is not.
                for (int i = 0; i < 8; i++) Assert.That(await AnsweringPid(pool), Is.EqualTo(other.ProcessId), "call " + i);

                // Released, the hang stops; the worker says so and is routed to again.
                await busy.InvokeAsync("test/release", Params.Of("key", key));
                await events.First(HostEventKind.AbandonedCallStopped, busy.ProcessId, Within);
                Assert.That(pool.Statistics.AbandonedCalls, Is.EqualTo(0));
                var pids = new HashSet<long>();
                for (int i = 0; i < 8 && pids.Count < 2; i++) pids.Add(await AnsweringPid(pool));
                Assert.That(pids, Is.EquivalentTo(new long[] { busy.ProcessId, other.ProcessId }), "ties rotate over both workers again");
            }
        }

        [Test, Timeout(90000)]
        public async Task A_worker_whose_timed_out_work_fills_its_limit_gets_no_calls_until_that_work_stops()
        {
            var events = new HostEventWatch();
            using (var pool = await Start(events, 1))
            {
                var key = AbandonedWork.NewKey();
                // Long enough for the hang to begin on a busy machine: the spec needs its handler running.
                var started = await HangAsync(pool, key, CancellationToken.None, TimeSpan.FromSeconds(3));
                var busy = started.Item2;
                var other = pool.Workers.Single(w => w != busy);
                await AsyncAssert.Throws<CallTimeoutException>(() => started.Item1);
                await events.First(HostEventKind.CallAbandoned, busy.ProcessId, Within);
                Assert.That(pool.Statistics.TimedOut, Is.EqualTo(1));
                Assert.That(pool.Statistics.AbandonedCalls, Is.EqualTo(1));

                // Its abandoned call fills its MaxCallsPerWorker of 1: concurrent calls all wait for the other worker.
                var calls = Enumerable.Range(0, 6).Select(_ => AnsweringPid(pool)).ToList();
                var pids = await Task.WhenAll(calls);
                Assert.That(pids, Is.All.EqualTo(other.ProcessId));

                // Both workers full (one with a call, one with abandoned work): a new call waits in the queue.
                var otherKey = AbandonedWork.NewKey();
                var occupying = await HangAsync(pool, otherKey, CancellationToken.None);
                Assert.That(occupying.Item2, Is.SameAs(other));
                var queued = AnsweringPid(pool);
                await AsyncAssert.Eventually(() => pool.Statistics.QueueLength == 1, Within, "the call queued");
                Assert.That(queued.IsCompleted, Is.False, "no worker has room for it");

                // The abandoned work stops: that alone frees the busy worker, and the queued call goes there.
                await busy.InvokeAsync("test/release", Params.Of("key", key));
                await events.First(HostEventKind.AbandonedCallStopped, busy.ProcessId, Within);
                Assert.That(await queued, Is.EqualTo(busy.ProcessId));
                await other.InvokeAsync("test/release", Params.Of("key", otherKey));
                await occupying.Item1;
                Assert.That(pool.Statistics.AbandonedCalls, Is.EqualTo(0));
            }
        }
    }
}
