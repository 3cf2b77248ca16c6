using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Provisioning;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Provisioning
{
    /// <summary>
    /// WorkerEnvironment with the lean core (hf-worker and msgspec: seconds to build), each spec in a cache folder of
    /// its own: the ready path, the cross-process lock, killed and cancelled builds, failures.
    /// </summary>
    [TestFixture]
    public class WorkerEnvironmentSpecs : ScratchFolderFixture
    {
        public WorkerEnvironmentSpecs() : base("hfw-env-")
        {
        }

        private sealed class Recorder : IProgress<EnvironmentProgress>
        {
            public readonly List<EnvironmentProgress> Reports = new List<EnvironmentProgress>();
            public Action<EnvironmentProgress> OnReport;

            public void Report(EnvironmentProgress value)
            {
                lock (Reports) Reports.Add(value);
                if (OnReport != null) OnReport(value);
            }

            public List<EnvironmentStage> Stages()
            {
                lock (Reports) return Reports.Where(r => r.OutputLine == null).Select(r => r.Stage).Distinct().ToList();
            }

            public string Text()
            {
                lock (Reports) return string.Join("\n", Reports);
            }
        }

        private string Cache
        {
            get { return Path.Combine(Scratch, "environments"); }
        }

        [Test, Timeout(180000)]
        public async Task A_ready_environment_is_found_in_under_a_second_with_uv_and_the_network_out_of_reach()
        {
            var built = await ProvisioningTesting.Core(Cache).EnsureAsync();
            Assert.That(built.Built, Is.True);
            Assert.That(built.Packages.Select(p => p.Name), Has.Member("hf-worker").And.Member("msgspec"));
            StringAssert.Contains("msgspec==", File.ReadAllText(built.LockFile), "the resolved set is written beside the environment");
            Assert.That(ProvisioningTesting.RunPython(built.PythonExecutable, "import worker, msgspec; print('ok')"), Is.EqualTo("ok"));

            // Where packages come from is not what the environment is: an unreachable index, missing find-links and a
            // uv that does not exist find the same folder, and must not be touched to find it.
            var offline = WorkerEnvironment.CreateBuilder().WithCacheFolder(Cache).WithHfWorker(ProvisioningTesting.HfWorkerSource)
                .WithUv(Path.Combine(Scratch, "no-such-uv")).WithIndexUrl("http://127.0.0.1:9/simple").WithFindLinks(Path.Combine(Scratch, "no-wheels"));
            var progress = new Recorder();
            var clock = Stopwatch.StartNew();
            var ready = await offline.EnsureAsync(progress);
            clock.Stop();

            Assert.That(ready.Built, Is.False);
            Assert.That(ready.Folder, Is.EqualTo(built.Folder));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)));
            Assert.That(progress.Stages(), Is.EqualTo(new[] { EnvironmentStage.Checking, EnvironmentStage.Ready }), progress.Text());
            Assert.That(ready.Packages.Select(p => p.ToString()), Is.EqualTo(built.Packages.Select(p => p.ToString())));
        }

        [Test, Timeout(240000)]
        public void Two_processes_ensuring_the_same_environment_at_once_build_it_once()
        {
            using (var first = EnsureToolProcess.Start(Cache, "--pause-at", "Installing"))
            {
                // The first holds the lock, its venv half made, until it is told to go on.
                first.WaitFor("paused Installing");
                using (var second = EnsureToolProcess.Start(Cache))
                {
                    second.WaitFor("stage Locking another process is building this environment");
                    first.Resume();

                    List<string> firstLines, secondLines;
                    Assert.That(first.WaitForExit(out firstLines), Is.EqualTo(0), string.Join("\n", firstLines));
                    Assert.That(second.WaitForExit(out secondLines), Is.EqualTo(0), string.Join("\n", secondLines));
                    Assert.That(firstLines, Has.Member("built True"));
                    Assert.That(secondLines, Has.Member("built False"), "the second found what the first built");
                    Assert.That(secondLines.Where(line => line.StartsWith("stage Installing")), Is.Empty, string.Join("\n", secondLines));
                    string folder = firstLines.Single(line => line.StartsWith("ready ")).Substring(6);
                    Assert.That(secondLines, Has.Member("ready " + folder));
                    Assert.That(ProvisioningTesting.Folders(Cache), Is.EqualTo(new[] { Path.GetFileName(folder) }), "one environment, no temporary folder left");
                }
            }
        }

        [Test, Timeout(240000)]
        public async Task A_build_killed_half_way_is_never_taken_for_ready_and_is_rebuilt_by_the_next_ensure()
        {
            var builder = ProvisioningTesting.Core(Cache);
            using (var killed = EnsureToolProcess.Start(Cache, "--pause-at", "Installing"))
            {
                killed.WaitFor("paused Installing");
                killed.Kill();
            }
            var leftovers = ProvisioningTesting.Folders(Cache);
            Assert.That(leftovers.Length, Is.EqualTo(1));
            StringAssert.Contains(".building-", leftovers[0], "a venv without its packages, under a temporary name");
            Assert.That(Directory.Exists(builder.EnvironmentFolder), Is.False);

            var progress = new Recorder();
            var environment = await builder.EnsureAsync(progress);

            Assert.That(environment.Built, Is.True, "the half-built folder was not taken for a ready one");
            StringAssert.Contains("removing an unfinished build", progress.Text());
            Assert.That(ProvisioningTesting.Folders(Cache), Is.EqualTo(new[] { Path.GetFileName(environment.Folder) }));
            Assert.That(ProvisioningTesting.RunPython(environment.PythonExecutable, "import worker; print('ok')"), Is.EqualTo("ok"));
        }

        [Test, Timeout(180000)]
        public async Task A_cancelled_ensure_stops_uv_and_leaves_nothing_behind()
        {
            var cancel = new CancellationTokenSource();
            // Cancelled from uv's first line while it installs: uv is running at that moment.
            var progress = new Recorder { OnReport = report => { if (report.Stage == EnvironmentStage.Installing && report.OutputLine != null) cancel.Cancel(); } };
            var ensure = ProvisioningTesting.Core(Cache).EnsureAsync(progress, cancel.Token);

            await AsyncAssert.Throws<OperationCanceledException>(() => ensure);
            Assert.That(ProvisioningTesting.Folders(Cache), Is.Empty, "the temporary folder is removed");
            Assert.That(ProcessesMentioning(Scratch), Is.Empty, "no uv (nor anything it started) is left running");
        }

        [Test, Timeout(180000)]
        public async Task An_unresolvable_package_fails_with_uvs_message()
        {
            var builder = ProvisioningTesting.Core(Cache).WithPackages("hfw-no-such-package-zz");

            var failure = await AsyncAssert.Throws<EnvironmentException>(() => builder.EnsureAsync());

            StringAssert.StartsWith("resolving the requirements failed", failure.Message);
            StringAssert.Contains("hfw-no-such-package-zz", failure.Message, "uv's own words end the message");
            Assert.That(failure.ToolOutput, Is.Not.Empty);
            Assert.That(ProvisioningTesting.Folders(Cache), Is.Empty);
        }

        [Test, Timeout(180000)]
        public async Task A_Python_version_that_is_nowhere_fails_naming_the_versions_found()
        {
            var builder = ProvisioningTesting.Core(Cache).WithPython("3.99");

            var failure = await AsyncAssert.Throws<EnvironmentException>(() => builder.EnsureAsync());

            string running = ProvisioningTesting.RunPython(TestEnvironment.Python, "import sys; print('%d.%d.%d' % sys.version_info[:3])");
            StringAssert.StartsWith("no Python 3.99 was found on this machine (found: ", failure.Message);
            StringAssert.Contains(running, failure.Message, "the Python that runs the tests is among those found");
            Assert.That(ProvisioningTesting.Folders(Cache), Is.Empty);
        }

        [Test, Timeout(240000)]
        public async Task A_lock_file_installs_exactly_the_same_packages_elsewhere()
        {
            var original = await ProvisioningTesting.Core(Path.Combine(Scratch, "here")).EnsureAsync();

            var copy = await ProvisioningTesting.Core(Path.Combine(Scratch, "there")).WithLockFile(original.LockFile).EnsureAsync();

            Assert.That(copy.Built, Is.True);
            Assert.That(copy.Folder, Is.Not.EqualTo(original.Folder));
            Assert.That(copy.Packages.Select(p => p.ToString()), Is.EqualTo(original.Packages.Select(p => p.ToString())));
            string version = original.Packages.Single(p => p.Name == "msgspec").Version;
            Assert.That(ProvisioningTesting.RunPython(copy.PythonExecutable, "import msgspec; print(msgspec.__version__)"), Is.EqualTo(version));
        }

        [Test, Timeout(420000)]
        public async Task Without_uv_the_environment_is_built_with_venv_and_pip_and_the_progress_says_so()
        {
            var progress = new Recorder();
            var environment = await ProvisioningTesting.Core(Cache).WithPipOnly().EnsureAsync(progress);

            Assert.That(environment.Built, Is.True);
            StringAssert.Contains("slower than uv", progress.Text());
            StringAssert.DoesNotContain("uv at ", progress.Text());
            Assert.That(environment.Packages.Select(p => p.Name), Has.Member("hf-worker").And.Member("msgspec"), "pip freeze made the lock");
            Assert.That(ProvisioningTesting.RunPython(environment.PythonExecutable, "import worker; print('ok')"), Is.EqualTo("ok"));
        }

        [Test, Timeout(180000)]
        public async Task A_torch_build_other_than_the_one_asked_for_is_resolved_again_pinned_and_never_installed()
        {
            // A find-links folder whose only torch is a plain 9.9.9 (a stand-in for PyPI's CUDA build): the first
            // resolution takes it, the pin to 9.9.9+cpu finds nothing, and the build fails before installing anything.
            string wheels = Path.Combine(Scratch, "wheels");
            Directory.CreateDirectory(wheels);
            ProvisioningTesting.RunPython(TestEnvironment.Python,
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1] + '/torch-9.9.9-py3-none-any.whl', 'w'); "
                + "z.writestr('torch/__init__.py', ''); "
                + "z.writestr('torch-9.9.9.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: torch\\nVersion: 9.9.9\\n'); "
                + "z.writestr('torch-9.9.9.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: hand\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'); "
                + "z.writestr('torch-9.9.9.dist-info/RECORD', ''); z.close()", wheels);
            var progress = new Recorder();
            var builder = ProvisioningTesting.Core(Cache).WithFindLinks(wheels).WithPackages("torch==9.9.9").WithTorch(TorchBuild.Cpu);

            var failure = await AsyncAssert.Throws<EnvironmentException>(() => builder.EnsureAsync(progress));

            StringAssert.Contains("torch 9.9.9 is not the cpu build: resolving again with torch==9.9.9+cpu", progress.Text());
            StringAssert.StartsWith("resolving the requirements failed", failure.Message);
            StringAssert.Contains("9.9.9+cpu", failure.Message, "uv says what it could not find");
            Assert.That(progress.Stages(), Has.No.Member(EnvironmentStage.Installing));
            Assert.That(ProvisioningTesting.Folders(Cache), Is.Empty);
        }

        [Test]
        public void The_folder_is_named_by_what_the_environment_is_not_by_where_its_packages_come_from()
        {
            Func<WorkerEnvironmentBuilder> core = () => WorkerEnvironment.CreateBuilder().WithCacheFolder(Cache).WithHfWorker("0.1.0");
            string folder = core().EnvironmentFolder;

            Assert.That(core().WithIndexUrl("https://mirror.example/simple").WithFindLinks("/wheels").WithUv("/opt/uv").EnvironmentFolder, Is.EqualTo(folder));
            Assert.That(core().WithExtras("models").EnvironmentFolder, Is.Not.EqualTo(folder));
            Assert.That(core().WithPackages("numpy<2").EnvironmentFolder, Is.Not.EqualTo(folder));
            Assert.That(core().WithPython("3.12").EnvironmentFolder, Is.Not.EqualTo(folder));
            Assert.That(core().WithTorch(TorchBuild.Cpu).EnvironmentFolder, Is.Not.EqualTo(folder));
            Assert.That(core().WithTorch(TorchBuild.Cuda("12.8")).EnvironmentFolder, Is.Not.EqualTo(core().WithTorch(TorchBuild.Cpu).EnvironmentFolder));
            Assert.That(WorkerEnvironment.CreateBuilder().WithCacheFolder(Cache).WithHfWorker("0.1.1").EnvironmentFolder, Is.Not.EqualTo(folder));
            Assert.That(TorchBuild.Cuda("12.8").Label, Is.EqualTo("cu128"));
            Assert.That(TorchBuild.Cpu.Label, Is.EqualTo("cpu"));
        }

        [Test]
        public void A_wheel_is_part_of_the_name_by_its_content()
        {
            string wheel = Path.Combine(Scratch, "hf_worker-0.1.0-py3-none-any.whl");
            File.WriteAllText(wheel, "one build");
            string first = WorkerEnvironment.CreateBuilder().WithCacheFolder(Cache).WithHfWorker(wheel).EnvironmentFolder;
            File.WriteAllText(wheel, "another build of the same version");
            string second = WorkerEnvironment.CreateBuilder().WithCacheFolder(Cache).WithHfWorker(wheel).EnvironmentFolder;

            Assert.That(second, Is.Not.EqualTo(first));
        }

        /// <summary>Processes whose command line mentions <paramref name="text"/> (Linux's /proc).</summary>
        private static List<int> ProcessesMentioning(string text)
        {
            var found = new List<int>();
            foreach (var entry in Directory.GetDirectories("/proc"))
            {
                int pid;
                if (!int.TryParse(Path.GetFileName(entry), out pid)) continue;
                try
                {
                    if (File.ReadAllText(Path.Combine(entry, "cmdline")).Contains(text)) found.Add(pid);
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
            return found;
        }
    }
}
