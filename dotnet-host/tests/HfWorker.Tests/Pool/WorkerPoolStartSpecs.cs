using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    [TestFixture]
    public class WorkerPoolStartSpecs : ScratchFolderFixture
    {
        public WorkerPoolStartSpecs() : base("hfw-pool-start-")
        {
        }

        [Test, Timeout(30000)]
        public async Task A_worker_that_dies_while_the_pool_starts_is_started_again()
        {
            // The first start of this module dies; the second one is a real worker.
            File.WriteAllText(Path.Combine(Scratch, "hfw_flaky.py"),
                "import os, sys\nmarker = os.path.join(os.getcwd(), 'started-once')\n"
                + "if not os.path.exists(marker):\n    open(marker, 'w').close()\n    sys.stderr.write('dying on the first start\\n')\n    sys.exit(3)\n"
                + "from worker.cli import main\nsys.exit(main())\n");
            using (var pool = await PoolTesting.Start(1, o => { o.Worker.Module = "hfw_flaky"; o.Worker.WorkingDirectory = Scratch; }))
            {
                Assert.That(pool.Statistics.FailedStarts, Is.EqualTo(1));
                Assert.That(pool.Statistics.ReadyWorkers, Is.EqualTo(1));
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "up")), Is.EqualTo("up"));
            }
        }

        [Test, Timeout(60000)]
        public async Task A_worker_that_keeps_crashing_is_restarted_with_exponential_back_off_up_to_the_cap()
        {
            // Once the marker file exists, every worker dies two seconds after it starts: a crash loop.
            File.WriteAllText(Path.Combine(Scratch, "hfw_crashy.py"),
                "import os, sys, threading\nif os.path.exists('crash-loop'):\n    threading.Timer(2.0, lambda: os._exit(5)).start()\n"
                + "from worker.cli import main\nsys.exit(main())\n");
            var exits = new System.Collections.Concurrent.ConcurrentQueue<WorkerExitInfo>();
            using (var pool = await PoolTesting.Start(1, o =>
            {
                o.Worker.Module = "hfw_crashy";
                o.Worker.WorkingDirectory = Scratch;
                // A 2 s life, so that each replacement is surely ready (and counted a restart, not a
                // failed start) before it dies; back-off steps of a second leave room for a slow start.
                o.RestartBackoffInitial = TimeSpan.FromSeconds(1);
                o.RestartBackoffMax = TimeSpan.FromSeconds(2);
            }))
            {
                var delays = new System.Collections.Concurrent.ConcurrentQueue<TimeSpan>();
                pool.WorkerExited += (sender, args) => exits.Enqueue(args.ExitInfo);
                pool.WorkerRestarting += (sender, args) => delays.Enqueue(args.Delay);
                File.WriteAllText(Path.Combine(Scratch, "crash-loop"), "");
                PoolTesting.KillFromOutside(pool.Workers[0]);
                await AsyncAssert.Eventually(() => exits.Count >= 5 && delays.Count >= 4, TimeSpan.FromSeconds(50), "five crashes");
                var infos = exits.ToArray();
                Assert.That(infos.Select(i => i.ExitCode).Take(5), Is.EqualTo(new int?[] { 137, 5, 5, 5, 5 }));
                // The back-off the pool chose, from its own events: no clock is read, so a busy machine
                // cannot make this fail.
                Assert.That(delays.Take(4).Select(d => d.TotalSeconds), Is.EqualTo(new[] { 0.0, 1.0, 2.0, 2.0 }),
                    "immediate, then the initial delay, doubled, which reaches the cap, and stays there");
                // And it was really waited: a busy machine only makes the gaps longer, never shorter.
                var gaps = Enumerable.Range(0, 4).Select(i => (infos[i + 1].StartedAt - infos[i].ExitedAt).TotalSeconds).ToArray();
                Assert.That(gaps[1], Is.GreaterThanOrEqualTo(0.95), "the initial delay was waited");
                Assert.That(gaps[2], Is.GreaterThanOrEqualTo(1.95), "the doubled delay was waited");
                Assert.That(gaps[3], Is.GreaterThanOrEqualTo(1.95), "the cap was waited");
                Assert.That(pool.Statistics.FailedStarts, Is.EqualTo(0), "every replacement got as far as ready");
            }
        }

        [Test, Timeout(30000)]
        public async Task A_pool_that_cannot_start_a_worker_fails_with_the_reason()
        {
            var clock = Stopwatch.StartNew();
            var error = await AsyncAssert.Throws<WorkerStartException>(() => PoolTesting.Start(2, o =>
            {
                o.Worker.VirtualEnvironment = null;
                o.Worker.PythonExecutable = "/nonexistent/python3";
            }));
            Mentions.All(error.Message, "/nonexistent/python3");
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "a setting that cannot work fails fast");
        }
    }
}
