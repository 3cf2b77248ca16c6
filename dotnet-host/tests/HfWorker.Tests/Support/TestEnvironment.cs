using System;
using System.Diagnostics;
using System.IO;
using System.Threading;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// Where the tests find the worker and their data: the repository root (found by walking up from the
    /// test assembly to the folder holding worker/__main__.py, or HFW_REPO_ROOT), its .venv (or HFW_VENV),
    /// and the msgspec-encoded vectors, generated once per run by tests/vectors/make_vectors.py.
    /// </summary>
    internal static class TestEnvironment
    {
        private static readonly Lazy<string> Root = new Lazy<string>(FindRoot);
        private static readonly Lazy<string> Vectors = new Lazy<string>(GenerateVectors, LazyThreadSafetyMode.ExecutionAndPublication);

        public static string RepoRoot
        {
            get { return Root.Value; }
        }

        public static string DotnetHost
        {
            get { return Path.Combine(RepoRoot, "dotnet-host"); }
        }

        public static string VirtualEnvironment
        {
            get { return Environment.GetEnvironmentVariable("HFW_VENV") ?? Path.Combine(RepoRoot, ".venv"); }
        }

        public static string Python
        {
            get { return Path.Combine(VirtualEnvironment, "bin", "python"); }
        }

        /// <summary>The msgpack-test-suite data set (npm), installed by <c>npm ci</c> in dotnet-host.</summary>
        public static string MessagePackTestSuite
        {
            get
            {
                var path = Environment.GetEnvironmentVariable("HFW_MSGPACK_TEST_SUITE")
                    ?? Path.Combine(DotnetHost, "node_modules", "msgpack-test-suite", "dist", "msgpack-test-suite.json");
                if (!File.Exists(path)) throw new FileNotFoundException("msgpack-test-suite is missing: run `npm ci` in dotnet-host/", path);
                return path;
            }
        }

        /// <summary>The worker-encoded vectors (JSON), generated on first use.</summary>
        public static string WorkerVectors
        {
            get { return Vectors.Value; }
        }

        /// <summary>Options for a test worker: the repo's venv, test methods on, quick timeouts, stderr kept.</summary>
        public static WorkerProcessOptions Worker(WorkerTransport transport = WorkerTransport.Stdio)
        {
            var options = new WorkerProcessOptions
            {
                VirtualEnvironment = VirtualEnvironment,
                WorkingDirectory = RepoRoot,
                EnableTestMethods = true,
                Transport = transport,
                StartTimeout = TimeSpan.FromSeconds(20),
                ShutdownGracePeriod = TimeSpan.FromSeconds(2),
            };
            // No hub access in tests, ever: a model that is not bundled must fail fast.
            options.Environment["HF_HUB_OFFLINE"] = "1";
            return options;
        }

        private static string FindRoot()
        {
            var fromEnvironment = Environment.GetEnvironmentVariable("HFW_REPO_ROOT");
            if (fromEnvironment != null) return fromEnvironment;
            var dir = new DirectoryInfo(AppDomain.CurrentDomain.BaseDirectory);
            while (dir != null)
            {
                if (File.Exists(Path.Combine(dir.FullName, "worker", "__main__.py"))) return dir.FullName;
                dir = dir.Parent;
            }
            throw new DirectoryNotFoundException("cannot find the repository root above " + AppDomain.CurrentDomain.BaseDirectory + "; set HFW_REPO_ROOT");
        }

        private static string GenerateVectors()
        {
            var output = Path.Combine(Path.GetTempPath(), "hfw-vectors-" + Process.GetCurrentProcess().Id + ".json");
            var script = Path.Combine(DotnetHost, "tests", "vectors", "make_vectors.py");
            var start = new ProcessStartInfo(Python, "\"" + script + "\" \"" + output + "\"")
            {
                UseShellExecute = false,
                RedirectStandardError = true,
                WorkingDirectory = RepoRoot,
            };
            using (var process = Process.Start(start))
            {
                string errors = process.StandardError.ReadToEnd();
                if (!process.WaitForExit(60000)) throw new TimeoutException("make_vectors.py did not finish in 60 s");
                if (process.ExitCode != 0) throw new InvalidOperationException("make_vectors.py failed (exit " + process.ExitCode + "): " + errors);
            }
            return output;
        }
    }
}
