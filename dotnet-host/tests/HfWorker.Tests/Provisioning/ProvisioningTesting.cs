using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using HfWorker.Provisioning;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Provisioning
{
    /// <summary>
    /// What the provisioning specs share: uv, the package sources pip is configured with on this machine (read with
    /// <c>pip config list</c>, as a user behind a company mirror would pass them), the hf-worker to install (the
    /// repository's folder), and a second OS process that runs one ensure (tests/EnsureTool).
    /// </summary>
    internal static class ProvisioningTesting
    {
        private static readonly Lazy<List<KeyValuePair<string, string>>> PipSources = new Lazy<List<KeyValuePair<string, string>>>(ReadPipConfig);

        /// <summary>uv: HFW_UV, else the repository's .venv/bin/uv, else the PATH's (null: the builder looks itself).</summary>
        public static string Uv
        {
            get
            {
                var given = Environment.GetEnvironmentVariable("HFW_UV");
                if (given != null) return given;
                var inVenv = Path.Combine(TestEnvironment.VirtualEnvironment, "bin", "uv");
                return File.Exists(inVenv) ? inVenv : null;
            }
        }

        /// <summary>
        /// The hf-worker the specs install: the wheel CI built (HF_WORKER_WHEEL, set by scripts/test.sh), else the
        /// repository folder.
        /// </summary>
        public static string HfWorkerSource
        {
            get
            {
                var wheel = Environment.GetEnvironmentVariable("HF_WORKER_WHEEL");
                return !string.IsNullOrEmpty(wheel) && File.Exists(wheel) ? wheel : TestEnvironment.RepoRoot;
            }
        }

        /// <summary>A builder for the lean core (msgspec only) into <paramref name="cache"/>: seconds to build.</summary>
        public static WorkerEnvironmentBuilder Core(string cache)
        {
            return WithPipSources(WorkerEnvironment.CreateBuilder().WithCacheFolder(cache).WithHfWorker(HfWorkerSource).WithUv(Uv));
        }

        /// <summary>The index, extra indexes and find-links of this machine's pip configuration, given to <paramref name="builder"/>.</summary>
        public static WorkerEnvironmentBuilder WithPipSources(WorkerEnvironmentBuilder builder)
        {
            foreach (var pair in PipSources.Value)
            {
                if (pair.Key == "index-url") builder.WithIndexUrl(pair.Value);
                else if (pair.Key == "extra-index-url") builder.WithExtraIndexUrl(pair.Value);
                else builder.WithFindLinks(pair.Value);
            }
            return builder;
        }

        /// <summary>The same sources as EnsureTool arguments.</summary>
        public static IEnumerable<string> PipSourceArguments()
        {
            foreach (var pair in PipSources.Value)
            {
                yield return "--" + pair.Key;
                yield return pair.Value;
            }
        }

        /// <summary>The environment folders in <paramref name="cache"/> (finished or not), lock files aside.</summary>
        public static string[] Folders(string cache)
        {
            return Directory.GetDirectories(cache).Select(Path.GetFileName).OrderBy(name => name, StringComparer.Ordinal).ToArray();
        }

        /// <summary>Runs <paramref name="python"/> with <c>-c</c> <paramref name="code"/> and returns its stdout, trimmed.</summary>
        public static string RunPython(string python, string code, params string[] arguments)
        {
            var start = new ProcessStartInfo(python, HfWorker.Launch.CommandLine.Join(new[] { "-c", code }.Concat(arguments)))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetTempPath(),
            };
            using (var process = Process.Start(start))
            {
                var errors = process.StandardError.ReadToEndAsync();
                string output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                Assert.That(process.ExitCode, Is.EqualTo(0), python + " -c " + code + ": " + errors.Result);
                return output.Trim();
            }
        }

        private static List<KeyValuePair<string, string>> ReadPipConfig()
        {
            var sources = new List<KeyValuePair<string, string>>();
            var start = new ProcessStartInfo(TestEnvironment.Python, "-m pip config list")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            string output;
            using (var process = Process.Start(start))
            {
                process.StandardError.ReadToEndAsync();
                output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
            }
            // global.find-links='/opt/wheels', :env:.extra-index-url='a b', ...: one key, whitespace-separated values.
            foreach (var line in output.Split('\n'))
            {
                int equals = line.IndexOf('=');
                if (equals < 0) continue;
                string key = line.Substring(0, equals);
                key = key.Substring(key.LastIndexOf('.') + 1);
                if (key != "index-url" && key != "extra-index-url" && key != "find-links") continue;
                foreach (var value in line.Substring(equals + 1).Trim().Trim('\'', '"').Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries))
                {
                    var pair = new KeyValuePair<string, string>(key, value);
                    if (!sources.Contains(pair)) sources.Add(pair);
                }
            }
            return sources;
        }
    }

    /// <summary>
    /// tests/EnsureTool run as a process of its own: one ensure, every progress report a line. Lines are waited for,
    /// never slept on.
    /// </summary>
    internal sealed class EnsureToolProcess : IDisposable
    {
        private static readonly TimeSpan LineDeadline = TimeSpan.FromMinutes(3);
        private readonly Process _process;
        private readonly BlockingCollection<string> _lines = new BlockingCollection<string>();
        private readonly List<string> _seen = new List<string>();

        private EnsureToolProcess(Process process)
        {
            _process = process;
        }

        public static EnsureToolProcess Start(string cache, params string[] more)
        {
            // build.sh compiles EnsureTool.exe beside the specs (run with mono); dotnet test copies EnsureTool.dll there
            // through the tests' project reference (run with dotnet).
            bool mono = Type.GetType("Mono.Runtime") != null;
            var tool = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, mono ? "EnsureTool.exe" : "EnsureTool.dll");
            Assert.That(File.Exists(tool), Is.True, "tests/EnsureTool is built to " + tool);
            var args = new List<string> { tool, "--cache", cache, "--hf-worker", ProvisioningTesting.HfWorkerSource };
            if (ProvisioningTesting.Uv != null) args.AddRange(new[] { "--uv", ProvisioningTesting.Uv });
            args.AddRange(ProvisioningTesting.PipSourceArguments());
            args.AddRange(more);
            var start = new ProcessStartInfo(mono ? "mono" : "dotnet", HfWorker.Launch.CommandLine.Join(args))
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var process = Process.Start(start);
            var started = new EnsureToolProcess(process);
            process.OutputDataReceived += (sender, e) =>
            {
                if (e.Data == null) started._lines.CompleteAdding();
                else started._lines.Add(e.Data);
            };
            process.ErrorDataReceived += (sender, e) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return started;
        }

        /// <summary>The first line (from now on) that starts with <paramref name="prefix"/>; fails when the process ends or the deadline passes first.</summary>
        public string WaitFor(string prefix)
        {
            string line;
            var deadline = DateTime.UtcNow + LineDeadline;
            while (_lines.TryTake(out line, Clamp(deadline - DateTime.UtcNow)))
            {
                _seen.Add(line);
                if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
            }
            Assert.Fail("EnsureTool never wrote a line starting \"" + prefix + "\"; it wrote:\n" + string.Join("\n", _seen));
            return null;
        }

        /// <summary>Every line until the process ends, with its exit code.</summary>
        public int WaitForExit(out List<string> lines)
        {
            string line;
            var deadline = DateTime.UtcNow + LineDeadline;
            while (!_lines.IsCompleted && _lines.TryTake(out line, Clamp(deadline - DateTime.UtcNow))) _seen.Add(line);
            Assert.That(_process.WaitForExit((int)LineDeadline.TotalMilliseconds), Is.True, "EnsureTool did not end");
            lines = new List<string>(_seen);
            return _process.ExitCode;
        }

        /// <summary>Let a process paused with --pause-at go on.</summary>
        public void Resume()
        {
            _process.StandardInput.WriteLine();
            _process.StandardInput.Flush();
        }

        public void Kill()
        {
            _process.Kill();
            _process.WaitForExit();
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited) _process.Kill();
            }
            catch (InvalidOperationException)
            {
            }
            _process.Dispose();
        }

        private static TimeSpan Clamp(TimeSpan span)
        {
            return span < TimeSpan.Zero ? TimeSpan.Zero : span;
        }
    }
}
