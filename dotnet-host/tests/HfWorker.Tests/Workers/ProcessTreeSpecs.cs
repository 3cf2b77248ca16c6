using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>A worker ends with everything it started: no process outlives it.</summary>
    [TestFixture]
    public class ProcessTreeSpecs : ScratchFolderFixture
    {
        // A real worker whose "model code" starts a long-lived child once the worker leads its process group,
        // as a handler starting a helper process would, and says the child's pid on stderr.
        private const string Parent =
            "import os, subprocess, sys, threading, time\n"
            + "def start_child():\n"
            + "    while os.getpgid(0) != os.getpid():\n"
            + "        time.sleep(0.01)\n"
            + "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            + "    sys.stderr.write('child=%d\\n' % child.pid)\n"
            + "    sys.stderr.flush()\n"
            + "threading.Thread(target=start_child, daemon=True).start()\n"
            + "from worker.cli import main\n"
            + "sys.exit(main())\n";

        public ProcessTreeSpecs() : base("hfw-tree-")
        {
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(60000)]
        public async Task A_killed_worker_leaves_no_process_it_started_behind(WorkerTransport transport)
        {
            using (var worker = await StartParent(transport))
            {
                int child = await ChildOf(worker);
                Assert.That(IsRunning(child), Is.True, "the child runs while the worker does");
                worker.Kill();
                await worker.WaitForExitAsync();
                await WaitUntilGone(child);
            }
        }

        [Test, Timeout(60000)]
        public async Task A_worker_that_crashes_takes_its_children_with_it()
        {
            using (var worker = await StartParent(WorkerTransport.Stdio))
            {
                int child = await ChildOf(worker);
                await worker.NotifyAsync("test/crash", Params.Of("exit_code", 3));
                var exit = await worker.WaitForExitAsync();
                Assert.That(exit.ExitCode, Is.EqualTo(3));
                await WaitUntilGone(child);
            }
        }

        private Task<WorkerProcess> StartParent(WorkerTransport transport)
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_parent.py"), Parent);
            var options = TestEnvironment.Worker(transport);
            options.Module = "hfw_parent";
            options.WorkingDirectory = Scratch;
            return WorkerProcess.StartAsync(options);
        }

        private static async Task<int> ChildOf(WorkerProcess worker)
        {
            while (true)
            {
                var line = worker.StderrTail.FirstOrDefault(l => l.StartsWith("child=", StringComparison.Ordinal));
                if (line != null) return int.Parse(line.Substring("child=".Length));
                await Task.Delay(20); // the test's Timeout is the guard
            }
        }

        private static async Task WaitUntilGone(int pid)
        {
            while (IsRunning(pid)) await Task.Delay(20); // the test's Timeout is the guard
        }

        // Running: present and not a zombie (a killed orphan waits to be reaped by whoever adopts it).
        private static bool IsRunning(int pid)
        {
            try
            {
                var stat = File.ReadAllText("/proc/" + pid + "/stat");
                return stat.Substring(stat.LastIndexOf(')') + 2, 1) != "Z";
            }
            catch (IOException)
            {
                return false;
            }
        }
    }
}
