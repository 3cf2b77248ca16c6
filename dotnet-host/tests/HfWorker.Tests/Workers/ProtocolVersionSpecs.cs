using System.Collections.Generic;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Launch;
using HfWorker.Tests.Pool;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>A worker announcing a protocol this host does not speak is refused at start, naming both versions.</summary>
    [TestFixture]
    public class ProtocolVersionSpecs : ScratchFolderFixture
    {
        public ProtocolVersionSpecs() : base("hfw-protocol-")
        {
        }

        /// <summary>
        /// A real worker that announces <paramref name="protocol"/> and package version 9.8.7 in worker/ready, as an
        /// older or newer hf-worker would; each start appends a line to the file "starts" in the scratch folder.
        /// </summary>
        private void WriteWorkerSpeaking(int protocol)
        {
            File.WriteAllText(Path.Combine(Scratch, "hfw_other_protocol.py"),
                "import os, sys\n"
                + "with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'starts'), 'a') as f:\n    f.write('start\\n')\n"
                + "import worker.runtime.lifecycle as lifecycle\n"
                + "lifecycle.PROTOCOL_VERSION = " + protocol + "\nlifecycle.__version__ = '9.8.7'\n"
                + "from worker.cli import main\nsys.exit(main())\n");
        }

        [TestCase(WorkerTransport.Stdio, 2, "too new"), TestCase(WorkerTransport.NamedPipe, 0, "too old"), Timeout(30000)]
        public async Task A_worker_of_another_protocol_fails_the_start_naming_both_versions(WorkerTransport transport, int protocol, string verdict)
        {
            WriteWorkerSpeaking(protocol);
            var options = TestEnvironment.Worker(transport);
            options.Module = "hfw_other_protocol";
            options.WorkingDirectory = Scratch;
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            Mentions.All(error.Message, "the worker is " + verdict + " for this host", "hf-worker 9.8.7 speaks protocol " + protocol,
                "this host speaks protocol 1");
            Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Killed));
        }

        [Test, Timeout(60000)]
        public async Task A_pool_does_not_retry_a_worker_of_another_protocol()
        {
            WriteWorkerSpeaking(2);
            var error = await AsyncAssert.Throws<WorkerStartException>(() => PoolTesting.Start(2, o =>
            {
                o.Worker.Module = "hfw_other_protocol";
                o.Worker.WorkingDirectory = Scratch;
                o.StartAttempts = 3;
            }));
            Mentions.All(error.Message, "too new", "protocol 2");
            Assert.That(File.ReadAllLines(Path.Combine(Scratch, "starts")).Length, Is.EqualTo(2), "one start per slot, no retries");
        }

        [Test, Timeout(30000)]
        public async Task The_worker_of_this_repository_speaks_the_host_protocol_and_reports_its_version()
        {
            using (var worker = await WorkerProcess.StartAsync(TestEnvironment.Worker()))
            {
                Assert.That(worker.ReadyInfo.Protocol, Is.EqualTo(ProtocolVersion.Spoken));
                // The one version, single-sourced in worker/__init__.py.
                var source = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "worker", "__init__.py"));
                var version = Regex.Match(source, "__version__ = \"([^\"]+)\"").Groups[1].Value;
                Assert.That(version, Is.Not.Empty);
                Assert.That(worker.ReadyInfo.Version, Is.EqualTo(version));
            }
        }

        [TestCase(1, null), TestCase(2, "too new"), TestCase(0, "too old"), TestCase(-5, "too old")]
        public void The_check_accepts_only_the_spoken_protocol(int protocol, string verdict)
        {
            var ready = WorkerReadyInfo.From(new Dictionary<string, object>
            {
                { "protocol", (long)protocol }, { "pid", 1L }, { "max_frame_bytes", 4096L }, { "max_inflight", 1L },
            });
            var refusal = ProtocolVersion.Refusal(ready);
            if (verdict == null)
            {
                Assert.That(refusal, Is.Null);
                return;
            }
            Mentions.All(refusal, verdict, "hf-worker (version not given) speaks protocol " + protocol, "this host speaks protocol 1");
        }
    }
}
