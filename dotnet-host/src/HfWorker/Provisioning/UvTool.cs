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
    /// <summary>Builds an environment with uv: finds or installs Python, makes a relocatable venv, compiles a lock, syncs it.</summary>
    internal sealed class UvTool : IEnvironmentTool
    {
        private readonly string _uv;
        private readonly PackageSources _sources;
        private readonly ProgressSink _progress;
        private readonly string _workingDirectory;

        public UvTool(string uv, PackageSources sources, ProgressSink progress, string workingDirectory)
        {
            _uv = uv;
            _sources = sources;
            _progress = progress;
            _workingDirectory = workingDirectory;
        }

        public string Description
        {
            get { return "uv at " + _uv; }
        }

        /// <summary>
        /// uv's path: <paramref name="given"/>, else the <c>HF_WORKER_UV</c> variable, else <c>uv</c> on the PATH; null when
        /// none was asked for and none is found. A path asked for that does not exist throws.
        /// </summary>
        public static string Locate(string given)
        {
            string asked = !string.IsNullOrEmpty(given) ? given : Environment.GetEnvironmentVariable("HF_WORKER_UV");
            if (!string.IsNullOrEmpty(asked))
            {
                if (!File.Exists(asked)) throw new EnvironmentException("uv was not found at " + asked + (string.IsNullOrEmpty(given) ? " (HF_WORKER_UV)" : ""));
                return Path.GetFullPath(asked);
            }
            string name = Path.DirectorySeparatorChar == '\\' ? "uv.exe" : "uv";
            foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            {
                if (folder.Length == 0) continue;
                string candidate = Path.Combine(folder, name);
                if (File.Exists(candidate)) return candidate;
            }
            return null;
        }

        public async Task<string> FindPythonAsync(string version, CancellationToken token)
        {
            var run = Run(EnvironmentStage.FindingPython);
            var found = await run.RunAsync(_uv, new[] { "python", "find", "--no-project", version }, token).ConfigureAwait(false);
            if (found.ExitCode == 0 && found.Stdout.Count > 0) return found.Stdout.Last().Trim();
            _progress.Stage(EnvironmentStage.FindingPython, "no Python " + version + " on this machine: asking uv to install one");
            var installed = await run.RunAsync(_uv, new[] { "python", "install", version }, token).ConfigureAwait(false);
            if (installed.ExitCode == 0)
            {
                found = await run.CheckedAsync("finding the Python uv installed", _uv, new[] { "python", "find", "--no-project", version }, token).ConfigureAwait(false);
                return found.Stdout.Last().Trim();
            }
            var listed = await run.RunAsync(_uv, new[] { "python", "list", "--only-installed" }, token).ConfigureAwait(false);
            // "cpython-3.11.7-linux-x86_64-gnu    /usr/bin/python3.11": the version is the name's second part.
            var versions = listed.Stdout.Select(line => line.Trim().Split(' ')[0].Split('-'))
                .Where(parts => parts.Length > 1).Select(parts => parts[1]).Distinct().ToList();
            throw new EnvironmentException("no Python " + version + " was found on this machine (found: "
                + (versions.Count == 0 ? "none" : string.Join(", ", versions)) + ") and uv could not install it", installed.StderrTail);
        }

        public Task CreateVenvAsync(string python, string folder, CancellationToken token)
        {
            // Relocatable: the venv is made in a temporary folder and renamed into place, and its scripts must still run.
            return Run(EnvironmentStage.CreatingVenv).CheckedAsync("creating the virtual environment", _uv,
                new[] { "venv", "--no-project", "--relocatable", "--python", python, folder }, token);
        }

        public async Task ResolveAndInstallAsync(string venvPython, string requirementsFile, string lockFile, string torchLabel, CancellationToken token)
        {
            _progress.Stage(EnvironmentStage.Resolving, "resolving " + Path.GetFileName(requirementsFile) + " into " + Path.GetFileName(lockFile));
            await CompileAsync(venvPython, requirementsFile, lockFile, null, token).ConfigureAwait(false);
            string torch = LockFileText.VersionOf(File.ReadAllText(lockFile), "torch");
            if (torch != null && torchLabel != null && !RuntimeInformation.IsOSPlatform(OSPlatform.OSX) && !torch.EndsWith("+" + torchLabel, StringComparison.Ordinal))
            {
                // The resolver took another build of that version (PyPI's CUDA one): pin this build of it and resolve again.
                string pin = "torch==" + torch.Split('+')[0] + "+" + torchLabel;
                _progress.Stage(EnvironmentStage.Resolving, "torch " + torch + " is not the " + torchLabel + " build: resolving again with " + pin);
                string overrides = Path.Combine(Path.GetDirectoryName(lockFile), "torch-build.txt");
                File.WriteAllText(overrides, pin + "\n");
                await CompileAsync(venvPython, requirementsFile, lockFile, overrides, token).ConfigureAwait(false);
                File.Delete(overrides);
            }
            await InstallLockAsync(venvPython, lockFile, token).ConfigureAwait(false);
        }

        public Task InstallLockAsync(string venvPython, string lockFile, CancellationToken token)
        {
            _progress.Stage(EnvironmentStage.Installing, "installing exactly " + Path.GetFileName(lockFile));
            var args = new List<string> { "pip", "sync", lockFile, "--python", venvPython };
            args.AddRange(_sources.Arguments());
            return Run(EnvironmentStage.Installing).CheckedAsync("installing the packages", _uv, args, token);
        }

        private Task CompileAsync(string venvPython, string requirementsFile, string lockFile, string overrides, CancellationToken token)
        {
            var args = new List<string> { "pip", "compile", requirementsFile, "--output-file", lockFile, "--python", venvPython, "--no-header", "--quiet" };
            if (overrides != null)
            {
                args.Add("--override");
                args.Add(overrides);
            }
            args.AddRange(_sources.Arguments());
            return Run(EnvironmentStage.Resolving).CheckedAsync("resolving the requirements", _uv, args, token);
        }

        private ToolRun Run(EnvironmentStage stage)
        {
            return new ToolRun(_progress, stage, _workingDirectory);
        }
    }
}
