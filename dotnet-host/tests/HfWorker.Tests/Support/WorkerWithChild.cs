using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// A real worker whose "model code" starts a long-lived child once the worker leads its process group, as a
    /// handler starting a helper process would, and says the child's pid on stderr; and the probes that tell
    /// whether a process is still there.
    /// </summary>
    internal static class WorkerWithChild
    {
        private const string Module = "hfw_parent";

        private const string Source =
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

        /// <summary>Options that start such a worker, its module written into <paramref name="scratch"/>.</summary>
        public static WorkerProcessOptions Options(string scratch, WorkerTransport transport = WorkerTransport.Stdio)
        {
            File.WriteAllText(Path.Combine(scratch, Module + ".py"), Source);
            var options = TestEnvironment.Worker(transport);
            options.Module = Module;
            options.WorkingDirectory = scratch;
            return options;
        }

        /// <summary>The child's pid, once the worker has said it.</summary>
        public static async Task<int> ChildOf(WorkerProcess worker)
        {
            while (true)
            {
                var line = worker.StderrTail.FirstOrDefault(l => l.StartsWith("child=", StringComparison.Ordinal));
                if (line != null) return int.Parse(line.Substring("child=".Length));
                await Task.Delay(20); // the test's Timeout is the guard
            }
        }

        public static async Task WaitUntilGone(int pid)
        {
            while (IsRunning(pid)) await Task.Delay(20); // the test's Timeout is the guard
        }

        /// <summary>Present and not a zombie (a killed orphan waits to be reaped by whoever adopts it).</summary>
        public static bool IsRunning(int pid)
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
