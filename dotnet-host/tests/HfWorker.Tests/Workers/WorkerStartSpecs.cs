using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>Starting goes wrong in many ways; each says what happened.</summary>
    [TestFixture]
    public class WorkerStartSpecs : ScratchFolderFixture
    {
        public WorkerStartSpecs() : base("hfw-start-")
        {
        }

        [Test, Timeout(30000)]
        public async Task A_missing_interpreter_fails_the_start_and_names_it()
        {
            var options = TestEnvironment.Worker();
            options.VirtualEnvironment = null;
            options.PythonExecutable = "/nonexistent/python3";
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Mentions.All(error.Message, "/nonexistent/python3");
        }

        [Test, Timeout(30000)]
        public async Task A_virtual_environment_without_python_fails_the_start_and_says_where_it_looked()
        {
            var options = TestEnvironment.Worker();
            options.VirtualEnvironment = Scratch;
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Mentions.All(error.Message, "no Python interpreter", Path.Combine(Scratch, "bin", "python"));
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task A_worker_that_dies_before_ready_reports_its_exit_code_and_stderr(WorkerTransport transport)
        {
            var options = TestEnvironment.Worker(transport);
            options.Module = "hfw_no_such_module";
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Assert.That(error.ExitInfo, Is.Not.Null);
            Assert.That(error.ExitInfo.ExitCode, Is.EqualTo(1));
            Mentions.All(error.Message, "No module named hfw_no_such_module");
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(30000)]
        public async Task A_worker_that_never_says_ready_is_killed_after_the_start_timeout(WorkerTransport transport)
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_silent.py"), "import sys, time\nsys.stderr.write('silent worker up\\n')\nsys.stderr.flush()\ntime.sleep(600)\n");
            var options = TestEnvironment.Worker(transport);
            options.Module = "hfw_silent";
            options.WorkingDirectory = Scratch;
            options.StartTimeout = TimeSpan.FromSeconds(1.5);
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Mentions.All(error.Message, "within 1.5 s", "silent worker up");
            Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Killed));
            Assert.That(ProcessIsGone(error.ExitInfo.ProcessId), Is.True);
        }

        [Test, Timeout(30000)]
        public async Task The_environment_working_directory_and_module_reach_the_worker()
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_wrapped.py"),
                "import os, sys\nsys.stderr.write('marker=%s cwd=%s\\n' % (os.environ.get('HFW_MARKER'), os.getcwd()))\n"
                + "from worker.cli import main\nsys.exit(main())\n");
            var options = TestEnvironment.Worker();
            options.Module = "hfw_wrapped";
            options.WorkingDirectory = Scratch;
            options.Environment["HFW_MARKER"] = "it's here";
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                Assert.That(worker.StderrTail.First(), Is.EqualTo("marker=it's here cwd=" + Scratch));
                Assert.That(await worker.InvokeAsync("test/echo", Params.Of("value", 1)), Is.EqualTo(1L));
            }
        }

        // A real worker that never saw this start's token, or that presents another: what a process the host
        // did not start looks like, whether it reached the pipe first or was started by someone else.
        [TestCase(WorkerTransport.Stdio, "os.environ.pop('HF_WORKER_TOKEN', None)", "presented no start token")]
        [TestCase(WorkerTransport.NamedPipe, "os.environ.pop('HF_WORKER_TOKEN', None)", "presented no start token")]
        [TestCase(WorkerTransport.Stdio, "os.environ['HF_WORKER_TOKEN'] = 'f' * 64", "presented a wrong start token")]
        [TestCase(WorkerTransport.NamedPipe, "os.environ['HF_WORKER_TOKEN'] = 'f' * 64", "presented a wrong start token")]
        [Timeout(30000)]
        public async Task A_peer_without_the_start_token_is_refused_and_the_start_fails(WorkerTransport transport, string impostor, string refusal)
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_impostor.py"),
                "import os, sys\n" + impostor + "\nfrom worker.cli import main\nsys.exit(main())\n");
            var options = TestEnvironment.Worker(transport);
            options.Module = "hfw_impostor";
            options.WorkingDirectory = Scratch;
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Mentions.All(error.Message, refusal, "not the process this host started");
            Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Killed));
            Assert.That(ProcessIsGone(error.ExitInfo.ProcessId), Is.True);
        }

        [Test, Timeout(30000)]
        public async Task Each_start_gets_a_token_of_its_own_that_the_options_cannot_replace()
        {
            var options = TestEnvironment.Worker();
            options.Environment["HF_WORKER_TOKEN"] = "chosen-by-the-app";
            using (var first = await WorkerProcess.StartAsync(options))
            using (var second = await WorkerProcess.StartAsync(options))
            {
                Assert.That(first.ReadyInfo.Token, Is.Not.EqualTo("chosen-by-the-app").And.Length.EqualTo(64));
                Assert.That(second.ReadyInfo.Token, Is.Not.EqualTo(first.ReadyInfo.Token).And.Length.EqualTo(64));
                Assert.That(await first.InvokeAsync("test/echo", Params.Of("value", 1)), Is.EqualTo(1L));
            }
        }

        [Test]
        public void Invalid_options_are_refused_before_anything_starts()
        {
            var options = TestEnvironment.Worker();
            options.StartTimeout = TimeSpan.Zero;
            var error = Assert.Throws<ArgumentException>(() => options.Validate());
            Mentions.All(error.Message, "StartTimeout");
            var pool = new WorkerPoolOptions { WorkerCount = 0 };
            Mentions.All(Assert.Throws<ArgumentException>(() => pool.Validate()).Message, "WorkerCount");
        }

        [Test]
        public void A_frame_limit_the_worker_would_refuse_is_refused_before_anything_starts()
        {
            // The worker exits at once on a --max-frame-bytes under 4096: a pool would spend every StartAttempt on it.
            var options = TestEnvironment.Worker();
            options.MaxFrameBytes = 4095;
            Mentions.All(Assert.Throws<ArgumentException>(() => options.Validate()).Message, "MaxFrameBytes", "4096");
            var pool = new WorkerPoolOptions { Worker = options };
            Mentions.All(Assert.Throws<ArgumentException>(() => pool.Validate()).Message, "MaxFrameBytes");
            options.MaxFrameBytes = 4096;
            options.Validate();
        }

        [Test, Timeout(30000)]
        public async Task The_smallest_frame_limit_the_options_take_starts_a_worker()
        {
            var options = TestEnvironment.Worker();
            options.MaxFrameBytes = 4096;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                Assert.That(worker.ReadyInfo.MaxFrameBytes, Is.EqualTo(4096));
            }
        }

        private static bool ProcessIsGone(int pid)
        {
            try
            {
                using (var process = System.Diagnostics.Process.GetProcessById(pid)) return process.HasExited;
            }
            catch (ArgumentException)
            {
                return true;
            }
        }
    }
}
