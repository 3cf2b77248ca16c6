using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>Over a named pipe, only the process the host started (or one it started) gets through.</summary>
    [TestFixture]
    public class PipePeerSpecs : ScratchFolderFixture
    {
        // Runs as the process the host started, with the worker's arguments. Before it becomes the worker it sets a
        // rogue on the pipe: a process of the same user that is neither the started process nor a descendant of it
        // (forked twice and orphaned, like anything else of the user's that learnt the path from `ps`). The rogue
        // connects, sends a forged worker/ready without a token, reads whatever the host sends until the host closes,
        // and tells the launcher its pid and how many bytes it got; the launcher writes that, with what the file
        // system says of the socket's folder, to rogue.json and then runs the worker (or, with HFW_NO_WORKER, waits
        // for ever, as a worker that never connects).
        private const string RogueFirst =
            "import json, os, socket, struct, sys, time\n"
            + "import msgspec\n"
            + "path = sys.argv[sys.argv.index('--pipe') + 1]\n"
            + "folder = os.path.dirname(path)\n"
            + "info = os.lstat(folder)\n"
            + "report = {'folder': folder, 'mode': oct(info.st_mode & 0o7777), 'ours': info.st_uid == os.geteuid(),\n"
            + "          'is_dir': os.path.isdir(folder) and not os.path.islink(folder)}\n"
            + "r, w = os.pipe()\n"
            + "if os.fork() == 0:\n"
            + "    os.close(r)\n"
            + "    os.setsid()\n"
            + "    middle = os.getpid()\n"
            + "    if os.fork() != 0:\n"
            + "        os._exit(0)\n"
            + "    while os.getppid() == middle:\n"
            + "        time.sleep(0.01)\n"
            + "    received = b''\n"
            + "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            + "    for attempt in range(2000):\n"
            + "        try:\n"
            + "            s.connect(path)\n"
            + "            break\n"
            + "        except (FileNotFoundError, ConnectionRefusedError):\n"
            + "            time.sleep(0.01)\n"
            + "    ready = msgspec.msgpack.encode({'jsonrpc': '2.0', 'method': 'worker/ready', 'params': {'protocol': 1,\n"
            + "        'pid': os.getpid(), 'framing': 'length', 'encoding': 'msgpack', 'transport': 'pipe', 'methods': []}})\n"
            + "    try:\n"
            + "        s.sendall(struct.pack('>I', len(ready)) + ready)\n"
            + "        s.settimeout(60)\n"
            + "        while True:\n"
            + "            chunk = s.recv(65536)\n"
            + "            if not chunk:\n"
            + "                break\n"
            + "            received += chunk\n"
            + "    except OSError:\n"
            + "        pass\n"
            + "    os.write(w, json.dumps({'pid': os.getpid(), 'received': len(received)}).encode())\n"
            + "    os._exit(0)\n"
            + "os.close(w)\n"
            + "os.wait()\n"
            + "told = b''\n"
            + "while True:\n"
            + "    chunk = os.read(r, 4096)\n"
            + "    if not chunk:\n"
            + "        break\n"
            + "    told += chunk\n"
            + "report['rogue'] = json.loads(told)\n"
            + "with open('rogue.json', 'w') as f:\n"
            + "    json.dump(report, f)\n"
            + "if os.environ.get('HFW_NO_WORKER'):\n"
            + "    time.sleep(600)\n"
            + "from worker.cli import main\n"
            + "sys.exit(main())\n";

        // The process the host started runs the worker as its child, as a launcher script would.
        private const string Launcher =
            "import subprocess, sys\n"
            + "sys.exit(subprocess.call([sys.executable, '-m', 'worker'] + sys.argv[1:]))\n";

        public PipePeerSpecs() : base("hfw-pipe-")
        {
        }

        [Test, Timeout(60000)]
        public async Task A_process_that_connects_before_the_worker_is_refused_unanswered_and_the_worker_still_starts()
        {
            var events = new ConcurrentQueue<HostEvent>();
            var options = Options("hfw_rogue_first", RogueFirst);
            options.OnHostEvent = events.Enqueue;
            string folder;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var report = Report();
                var rogue = (Dictionary<string, object>)report["rogue"];
                Assert.That(rogue["received"], Is.EqualTo(0L), "bytes the host sent to the rogue");
                var refused = events.Where(e => e.Kind == HostEventKind.ConnectionRefused).ToList();
                Assert.That(refused.Count, Is.EqualTo(1), string.Join("\n", events));
                Mentions.All(refused[0].Message, "pid " + rogue["pid"], "neither the started worker", "nothing was sent");
                Assert.That(refused[0].ProcessId, Is.EqualTo(worker.ProcessId));
                Assert.That(worker.StderrTail.Any(line => line.StartsWith("[host] refused a connection to the pipe from pid " + rogue["pid"], StringComparison.Ordinal)), Is.True);
                Assert.That(worker.ReadyInfo.ProcessId, Is.EqualTo(worker.ProcessId));
                Assert.That(await worker.InvokeAsync("test/echo", Params.Of("value", "real")), Is.EqualTo("real"));
                folder = (string)report["folder"];
            }
            Assert.That(Directory.Exists(folder), Is.False, "the socket's folder is removed with the worker");
        }

        [Test, Timeout(60000)]
        public async Task The_socket_lives_in_a_folder_only_this_user_can_enter_removed_with_the_worker()
        {
            var options = Options("hfw_rogue_first", RogueFirst);
            string folder;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                var report = Report();
                folder = (string)report["folder"];
                Assert.That(report["mode"], Is.EqualTo("0o700"));
                Assert.That(report["ours"], Is.EqualTo(true));
                Assert.That(report["is_dir"], Is.EqualTo(true));
                StringAssert.StartsWith("hfw-", Path.GetFileName(folder));
                Assert.That(Directory.GetFileSystemEntries(folder).Select(Path.GetFileName), Is.EqualTo(new[] { "pipe" }));
                Assert.That(worker.ReadyInfo.Transport, Is.EqualTo("pipe"));
            }
            Assert.That(Directory.Exists(folder), Is.False);
        }

        [Test, Timeout(60000)]
        public async Task A_worker_that_never_connects_fails_the_start_and_names_what_was_refused()
        {
            var options = Options("hfw_rogue_first", RogueFirst);
            options.Environment["HFW_NO_WORKER"] = "1";
            options.StartTimeout = TimeSpan.FromSeconds(6);
            var error = await AsyncAssert.Throws<WorkerStartException>(() => WorkerProcess.StartAsync(options));
            var rogue = (Dictionary<string, object>)Report()["rogue"];
            Mentions.All(error.Message, "did not connect to the pipe", "within 6 s", "refused before it: a connection from pid " + rogue["pid"]);
            Assert.That(rogue["received"], Is.EqualTo(0L));
            Assert.That(error.ExitInfo.Reason, Is.EqualTo(WorkerExitReason.Killed));
        }

        [Test, Timeout(60000)]
        public async Task A_worker_started_through_a_launcher_is_accepted_as_a_descendant_of_the_started_process()
        {
            var events = new ConcurrentQueue<HostEvent>();
            var options = Options("hfw_launcher", Launcher);
            options.OnHostEvent = events.Enqueue;
            using (var worker = await WorkerProcess.StartAsync(options))
            {
                Assert.That(worker.ReadyInfo.ProcessId, Is.Not.EqualTo(worker.ProcessId), "the worker is the launcher's child");
                Assert.That(events.Any(e => e.Kind == HostEventKind.ConnectionRefused), Is.False, string.Join("\n", events));
                Assert.That(await worker.InvokeAsync("test/echo", Params.Of("value", 2)), Is.EqualTo(2L));
            }
        }

        private WorkerProcessOptions Options(string module, string source)
        {
            File.WriteAllText(Path.Combine(Scratch, module + ".py"), source);
            var options = TestEnvironment.Worker(WorkerTransport.NamedPipe);
            options.Module = module;
            options.WorkingDirectory = Scratch;
            return options;
        }

        private Dictionary<string, object> Report()
        {
            return (Dictionary<string, object>)MiniJson.Parse(File.ReadAllText(Path.Combine(Scratch, "rogue.json")));
        }
    }
}
