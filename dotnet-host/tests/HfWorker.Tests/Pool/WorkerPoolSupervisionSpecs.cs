using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.MessagePack;
using HfWorker.Supervision;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>Crashes, kills and hangs under a pool: the pool recovers, nothing is lost, every error says what happened.</summary>
    [TestFixture]
    public class WorkerPoolSupervisionSpecs
    {
        [Test, Timeout(30000)]
        public async Task A_crashed_worker_is_replaced_and_its_call_fails_with_the_exit_code()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var exits = new ConcurrentQueue<WorkerExitedEventArgs>();
                pool.WorkerExited += (sender, args) => exits.Enqueue(args);
                var before = pool.Workers.Select(w => w.ProcessId).ToList();
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => pool.InvokeAsync("test/crash", Params.Of("exit_code", 7)));
                Assert.That(error.ExitCode, Is.EqualTo(7));
                Mentions.All(error.Message, "exit code 7", "test/crash: exiting with code 7");
                await AsyncAssert.Eventually(() => pool.Statistics.Restarts == 1 && pool.Statistics.ReadyWorkers == 2, TimeSpan.FromSeconds(10), "a replacement is ready");
                // Raised on the thread pool: it may land just after the replacement is ready.
                await AsyncAssert.Eventually(() => exits.Count == 1, TimeSpan.FromSeconds(5), "WorkerExited raised");
                Assert.That(exits.Single().ExitInfo.ExitCode, Is.EqualTo(7));
                Assert.That(pool.Workers.Select(w => w.ProcessId).Except(before).Count(), Is.EqualTo(1), "one new process");
                var echoes = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => pool.InvokeAsync("test/echo", Params.Of("value", i))));
                Assert.That(echoes.Length, Is.EqualTo(10));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_native_crash_is_reported_as_a_signal_and_the_worker_replaced()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => pool.InvokeAsync("test/crash", Params.Of("native", true)));
                // Mono reports death by SIGSEGV (11) as 128 + 11.
                Assert.That(error.ExitCode, Is.EqualTo(139));
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Exited));
                Mentions.All(error.Message, "test/crash", "exited unexpectedly", "exit code 139, SIGSEGV?", "test/crash: reading address 0 (native crash)");
                await AsyncAssert.Eventually(() => pool.Statistics.Restarts == 1 && pool.Statistics.ReadyWorkers == 2, TimeSpan.FromSeconds(10), "a replacement is ready");
                var echoes = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => pool.InvokeAsync("test/echo", Params.Of("value", i))));
                Assert.That(echoes, Is.EqualTo(Enumerable.Range(0, 10).Select(i => (object)(long)i).ToArray()));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_call_safe_to_retry_survives_its_worker_being_killed_from_outside()
        {
            // No health pings: they count in WorkerProcess.InFlight, which picks the victim here.
            using (var pool = await PoolTesting.Start(2, o => o.HealthCheckInterval = TimeSpan.FromMinutes(10)))
            {
                var retried = pool.InvokeAsync(PoolTesting.Call("test/sleep", Params.Of("seconds", 3), safeToRetry: true));
                await AsyncAssert.Eventually(() => pool.Workers.Any(w => w.InFlight == 1), TimeSpan.FromSeconds(5), "the call is running");
                var victim = pool.Workers.Single(w => w.InFlight == 1);
                var notRetried = victim.InvokeAsync("test/sleep", Params.Of("seconds", 5));
                PoolTesting.KillFromOutside(victim);
                var result = (Dictionary<string, object>)await retried;
                Assert.That(result["slept_seconds"], Is.GreaterThanOrEqualTo(3.0));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(1));
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => notRetried);
                Assert.That(error.ExitCode, Is.EqualTo(137));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_call_not_marked_safe_fails_with_WorkerCrashedException_when_its_worker_dies()
        {
            // No health pings: they count in WorkerProcess.InFlight, which picks the victim here.
            using (var pool = await PoolTesting.Start(2, o => o.HealthCheckInterval = TimeSpan.FromMinutes(10)))
            {
                var call = pool.InvokeAsync("test/sleep", Params.Of("seconds", 5));
                await AsyncAssert.Eventually(() => pool.Workers.Any(w => w.InFlight == 1), TimeSpan.FromSeconds(5), "the call is running");
                PoolTesting.KillFromOutside(pool.Workers.Single(w => w.InFlight == 1));
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => call);
                Assert.That(error.Method, Is.EqualTo("test/sleep"));
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Exited));
                Assert.That(pool.Statistics.Retried, Is.EqualTo(0));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_hung_worker_is_killed_and_replaced_and_its_call_says_why()
        {
            using (var pool = await PoolTesting.Start(2, o => o.PingTimeout = TimeSpan.FromSeconds(1)))
            {
                var frozen = pool.InvokeAsync("test/hang", Params.Of("seconds", 60, "hold_gil", true));
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => frozen);
                Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Unresponsive));
                Mentions.All(error.Message, "unresponsive", "no answer to worker/ping within 1 s");
                Assert.That(pool.Statistics.HungWorkersKilled, Is.EqualTo(1));
                await AsyncAssert.Eventually(() => pool.Statistics.ReadyWorkers == 2, TimeSpan.FromSeconds(10), "a replacement is ready");
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "after")), Is.EqualTo("after"));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_busy_worker_still_answers_ping_and_is_left_alone()
        {
            using (var pool = await PoolTesting.Start(1, o => o.PingTimeout = TimeSpan.FromSeconds(1)))
            {
                var busy = (Dictionary<string, object>)await pool.InvokeAsync("test/hang", Params.Of("seconds", 2.5, "hold_gil", false));
                Assert.That(busy["hung_seconds"], Is.GreaterThanOrEqualTo(2.5));
                Assert.That(pool.Statistics.HungWorkersKilled, Is.EqualTo(0));
                Assert.That(pool.Statistics.Restarts, Is.EqualTo(0));
            }
        }

        [Test, Timeout(30000)]
        public async Task A_replacement_runs_every_set_up_before_it_takes_calls()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var data = new byte[] { 0, 0, 128, 63, 0, 0, 0, 64 };
                var put = new Invocation<string>("tensor/put", Params.Of("data", data, "dtype", "float32", "shape", new[] { 2 }),
                    r => (string)((Dictionary<string, object>)r.ReadValue())["handle"]);
                var setup = await pool.SetUpAsync(put, handle => PoolTesting.Call("tensor/free", Params.Of("handles", new[] { handle })));
                Assert.That(setup.Workers.Count, Is.EqualTo(2));
                var readyWithSetup = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                pool.WorkerReady += (sender, args) =>
                {
                    string handle;
                    readyWithSetup.TrySetResult(setup.TryGetResultOn(args.Worker, out handle));
                };
                await AsyncAssert.Throws<WorkerCrashedException>(() => pool.InvokeAsync("test/crash", Params.Of("exit_code", 1)));
                Assert.That(await readyWithSetup.Task, Is.True, "the set-up ran before the replacement was announced");
                Assert.That(setup.Workers.Count, Is.EqualTo(2));
                // Each worker has its own handle; a call that names it gets the right one wherever it runs.
                var get = new Invocation<byte[]>("tensor/get", worker => Params.Of("handle", setup.ResultOn(worker)),
                    (r, worker) => (byte[])((Dictionary<string, object>)r.ReadValue())["data"]);
                var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => pool.InvokeAsync(get)));
                Assert.That(results, Has.All.EqualTo(data));
                await setup.RemoveAsync();
                var listed = (Dictionary<string, object>)await pool.Workers[0].InvokeAsync("tensor/list");
                Assert.That(listed["count"], Is.EqualTo(0L), "removing the set-up undid it on the workers");
            }
        }

        [Test, Timeout(30000)]
        public async Task A_set_up_that_fails_is_removed_and_its_error_thrown()
        {
            using (var pool = await PoolTesting.Start(2))
            {
                var bad = PoolTesting.Call("tensor/put", Params.Of("data", new byte[3], "dtype", "float32", "shape", new[] { 2 }));
                var error = await AsyncAssert.Throws<WorkerRpcException>(() => pool.SetUpAsync(bad, null));
                Assert.That(error.ErrorCode, Is.EqualTo(HfWorker.Protocol.RpcErrorCode.InvalidInput));
            }
        }

        [Test, Timeout(60000)]
        public async Task No_call_is_lost_when_workers_are_killed_during_a_burst()
        {
            // Eight calls at a time, 300 of them: about two seconds of work, with a worker killed every 0.4 s.
            using (var pool = await PoolTesting.Start(2, o => o.MaxCallsPerWorker = 4))
            {
                var calls = Enumerable.Range(0, 300)
                    .Select(i => pool.InvokeAsync(PoolTesting.Call("test/sleep", Params.Of("seconds", 0.05), safeToRetry: i % 2 == 0)))
                    .ToList();
                int kills = 0;
                while (kills < 3)
                {
                    await Task.Delay(400);
                    var victim = pool.Workers.FirstOrDefault();
                    if (victim == null) continue;
                    PoolTesting.KillFromOutside(victim);
                    kills++;
                }
                var all = Task.WhenAll(calls.Select(c => c.ContinueWith(t => t)));
                await Task.WhenAny(all, Task.Delay(40000));
                Assert.That(calls.Count(c => !c.IsCompleted), Is.EqualTo(0), "lost calls");
                var failures = calls.Where(c => c.IsFaulted).Select(c => c.Exception.GetBaseException()).ToList();
                Assert.That(failures.Select(e => e.GetType()).Distinct(), Is.SubsetOf(new[] { typeof(WorkerCrashedException) }));
                await AsyncAssert.Eventually(() => pool.Statistics.Restarts == 3, TimeSpan.FromSeconds(10), "three replacements");
                // Each kill can fail at most the calls running on that worker; a dead worker takes no new ones.
                Assert.That(failures.Count, Is.LessThanOrEqualTo(3 * 4), "failed calls");
                Assert.That(calls.Count(c => c.Status == TaskStatus.RanToCompletion), Is.EqualTo(300 - failures.Count));
            }
        }

        [Test]
        public void Restarts_back_off_exponentially_up_to_the_cap()
        {
            var initial = TimeSpan.FromMilliseconds(500);
            var max = TimeSpan.FromSeconds(30);
            var delays = Enumerable.Range(1, 10).Select(n => RestartBackoff.Delay(n, initial, max).TotalSeconds).ToArray();
            Assert.That(delays, Is.EqualTo(new[] { 0, 0.5, 1, 2, 4, 8, 16, 30, 30, 30 }));
        }
    }
}
