using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// Builds an environment without uv: a Python of the version from the PATH, <c>python -m venv</c>, pip, and
    /// <c>pip freeze</c> for the lock. Slower than uv, and it cannot install a Python.
    /// </summary>
    internal sealed class PipTool : IEnvironmentTool
    {
        private const string VersionProbe = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)";
        private static readonly bool IsWindows = Path.DirectorySeparatorChar == '\\';

        private readonly PackageSources _sources;
        private readonly ProgressSink _progress;
        private readonly string _workingDirectory;

        public PipTool(PackageSources sources, ProgressSink progress, string workingDirectory)
        {
            _sources = sources;
            _progress = progress;
            _workingDirectory = workingDirectory;
        }

        public string Description
        {
            get { return "python -m venv and pip (no uv: slower)"; }
        }

        public async Task<string> FindPythonAsync(string version, CancellationToken token)
        {
            var run = Run(EnvironmentStage.FindingPython);
            var found = new List<string>();
            string[] parts = version.Split('.');
            string minor = parts.Length >= 2 ? parts[0] + "." + parts[1] : version;
            var candidates = IsWindows ? new[] { "python", "python3" } : new[] { "python" + minor, "python" + parts[0], "python" };
            foreach (var candidate in candidates)
            {
                ToolRun.Result probe;
                try
                {
                    probe = await run.RunAsync(candidate, new[] { "-c", VersionProbe }, token).ConfigureAwait(false);
                }
                catch (EnvironmentException)
                {
                    continue; // not on the PATH
                }
                if (probe.ExitCode != 0 || probe.Stdout.Count < 2) continue;
                string actual = probe.Stdout[0].Trim();
                if (actual == version || actual.StartsWith(version + ".", StringComparison.Ordinal)) return probe.Stdout[1].Trim();
                if (!found.Contains(actual)) found.Add(actual);
            }
            throw new EnvironmentException("no Python " + version + " was found on the PATH (found: "
                + (found.Count == 0 ? "none" : string.Join(", ", found)) + "); without uv no Python can be installed");
        }

        public Task CreateVenvAsync(string python, string folder, CancellationToken token)
        {
            return Run(EnvironmentStage.CreatingVenv).CheckedAsync("creating the virtual environment", python, new[] { "-m", "venv", folder }, token);
        }

        public async Task ResolveAndInstallAsync(string venvPython, string requirementsFile, string lockFile, string torchLabel, CancellationToken token)
        {
            // pip resolves while it installs: the lock is what it installed.
            _progress.Stage(EnvironmentStage.Installing, "installing " + Path.GetFileName(requirementsFile) + " with pip");
            await PipAsync(venvPython, new List<string> { "install", "-r", requirementsFile }, token).ConfigureAwait(false);
            _progress.Stage(EnvironmentStage.Installing, "writing the lock file with pip freeze");
            var frozen = await Run(EnvironmentStage.Installing).CheckedAsync("pip freeze", venvPython, new[] { "-m", "pip", "freeze" }, token).ConfigureAwait(false);
            File.WriteAllText(lockFile, string.Join("\n", frozen.Stdout) + "\n");
            string torch = LockFileText.VersionOf(File.ReadAllText(lockFile), "torch");
            if (torch != null && torchLabel != null && !RuntimeInformation.IsOSPlatform(OSPlatform.OSX) && !torch.EndsWith("+" + torchLabel, StringComparison.Ordinal))
            {
                throw new EnvironmentException("pip installed torch " + torch + ", not its " + torchLabel
                    + " build: add an index or find-links that has it (TorchBuild.IndexUrl, or a mirror of it)");
            }
        }

        public Task InstallLockAsync(string venvPython, string lockFile, CancellationToken token)
        {
            _progress.Stage(EnvironmentStage.Installing, "installing exactly " + Path.GetFileName(lockFile) + " with pip");
            return PipAsync(venvPython, new List<string> { "install", "--no-deps", "-r", lockFile }, token);
        }

        private Task PipAsync(string venvPython, List<string> args, CancellationToken token)
        {
            args.InsertRange(0, new[] { "-m", "pip" });
            args.Add("--disable-pip-version-check");
            args.AddRange(_sources.Arguments());
            return Run(EnvironmentStage.Installing).CheckedAsync("pip " + args[2], venvPython, args, token);
        }

        private ToolRun Run(EnvironmentStage stage)
        {
            return new ToolRun(_progress, stage, _workingDirectory);
        }
    }
}
