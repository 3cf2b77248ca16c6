using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    /// <summary>A set-up (a model load) that waits for a worker leaves nothing behind when it ends without a result.</summary>
    [TestFixture]
    public class WorkerPoolSetUpSpecs : ScratchFolderFixture
    {
        // Starts only while the gate is open: lets a test hold a replacement back while no worker is active.
        private const string Gated =
            "import os, sys, time\nwhile os.path.exists('gate-closed'):\n    time.sleep(0.02)\nfrom worker.cli import main\nsys.exit(main())\n";

        public WorkerPoolSetUpSpecs() : base("hfw-pool-setup-")
        {
        }

        private string Gate
        {
            get { return Path.Combine(Scratch, "gate-closed"); }
        }

        /// <summary>A pool of one whose worker was killed and whose replacement waits at the gate: no worker is active.</summary>
        private async Task<WorkerPool> PoolWithNoActiveWorker(Action<WorkerPoolOptions> configure = null)
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_gated.py"), Gated);
            var pool = await PoolTesting.Start(1, o =>
            {
                o.Worker.Module = "hfw_gated";
                o.Worker.WorkingDirectory = Scratch;
                o.HealthCheckInterval = TimeSpan.FromMinutes(10);
                if (configure != null) configure(o);
            });
            var exited = new TaskCompletionSource<bool>();
            pool.WorkerExited += (sender, args) => exited.TrySetResult(true);
            File.WriteAllText(Gate, "");
            pool.Workers[0].Kill();
            await exited.Task;
            return pool;
        }

        [Test, Timeout(60000)]
        public async Task A_set_up_cancelled_while_a_replacement_runs_it_is_undone_there_and_never_runs_again()
        {
            using (var pool = await PoolWithNoActiveWorker())
            {
                var ready = new TaskCompletionSource<WorkerProcess>();
                pool.WorkerReady += (sender, args) => ready.TrySetResult(args.Worker);
                var running = new Reports();
                // A load that takes a while and cannot be interrupted, undone by a call that leaves a mark in stderr.
                var load = new Invocation<object>("test/hang", Params.Of("seconds", 1.5, "release", "never"), r => r.ReadValue()) { Progress = running };
                var cancel = new CancellationTokenSource();
                var loading = pool.SetUpAsync(load, result => PoolTesting.Call("test/print", Params.Of("text", "model unloaded")), cancel.Token);
                File.Delete(Gate);
                await running.First;
                cancel.Cancel();
                await AsyncAssert.Throws<OperationCanceledException>(() => loading);
                var replacement = await ready.Task;
                await AsyncAssert.Eventually(() => replacement.StderrTail.Any(l => l.Contains("model unloaded")), TimeSpan.FromSeconds(10),
                    "the load that finished after its caller gave up was undone on the worker it ran on");
                // And the next worker does not run it at all.
                var next = new TaskCompletionSource<WorkerProcess>();
                pool.WorkerReady += (sender, args) => next.TrySetResult(args.Worker);
                replacement.Kill();
                await next.Task;
                Assert.That(running.Count, Is.EqualTo(1), "the cancelled set-up ran on no later worker");
            }
        }

        [Test, Timeout(60000)]
        public async Task A_set_up_that_fails_on_the_replacement_it_waited_for_fails_its_caller_and_the_worker_serves_on()
        {
            using (var pool = await PoolWithNoActiveWorker())
            {
                var ready = new TaskCompletionSource<WorkerProcess>();
                pool.WorkerReady += (sender, args) => ready.TrySetResult(args.Worker);
                var loading = pool.SetUpAsync(PoolTesting.Call("test/sleep", Params.Of("seconds", -1)), null);
                File.Delete(Gate);
                var error = await AsyncAssert.Throws<WorkerRpcException>(() => loading);
                Mentions.All(error.Message, "seconds must be");
                var replacement = await ready.Task;
                Assert.That(replacement.HasExited, Is.False, "a set-up's own error is not the worker's");
                Assert.That(pool.Statistics.Restarts, Is.EqualTo(1), "only the kill was a restart");
                Assert.That(pool.Statistics.FailedStarts, Is.EqualTo(0));
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "up")), Is.EqualTo("up"));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_set_up_that_kills_the_replacements_it_waited_for_fails_its_caller_after_two()
        {
            using (var pool = await PoolWithNoActiveWorker())
            {
                var ready = new TaskCompletionSource<WorkerProcess>();
                pool.WorkerReady += (sender, args) => ready.TrySetResult(args.Worker);
                var loading = pool.SetUpAsync(PoolTesting.Call("test/crash", Params.Of("exit_code", 9)), null);
                File.Delete(Gate);
                var error = await AsyncAssert.Throws<WorkerCrashedException>(() => loading);
                Assert.That(error.ExitCode, Is.EqualTo(9));
                var survivor = await ready.Task;
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "up")), Is.EqualTo("up"), "the next worker no longer runs it");
                Assert.That(survivor.HasExited, Is.False);
            }
        }
    }
}
