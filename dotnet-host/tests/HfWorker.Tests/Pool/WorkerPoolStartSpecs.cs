using System;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Pool
{
    [TestFixture]
    public class WorkerPoolStartSpecs
    {
        private string _scratch;

        [SetUp]
        public void MakeScratchFolder()
        {
            _scratch = Path.Combine(Path.GetTempPath(), "hfw-pool-start-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(_scratch);
        }

        [TearDown]
        public void RemoveScratchFolder()
        {
            Directory.Delete(_scratch, true);
        }

        [Test, Timeout(30000)]
        public async Task A_worker_that_dies_while_the_pool_starts_is_started_again()
        {
            // The first start of this module dies; the second one is a real worker.
            File.WriteAllText(Path.Combine(_scratch, "hfw_flaky.py"),
                "import os, sys\nmarker = os.path.join(os.getcwd(), 'started-once')\n"
                + "if not os.path.exists(marker):\n    open(marker, 'w').close()\n    sys.stderr.write('dying on the first start\\n')\n    sys.exit(3)\n"
                + "from worker.cli import main\nsys.exit(main())\n");
            using (var pool = await PoolTesting.Start(1, o => { o.Worker.Module = "hfw_flaky"; o.Worker.WorkingDirectory = _scratch; }))
            {
                Assert.That(pool.Statistics.FailedStarts, Is.EqualTo(1));
                Assert.That(pool.Statistics.ReadyWorkers, Is.EqualTo(1));
                Assert.That(await pool.InvokeAsync("test/echo", Params.Of("value", "up")), Is.EqualTo("up"));
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
