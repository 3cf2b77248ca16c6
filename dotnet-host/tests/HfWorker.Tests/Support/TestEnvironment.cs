using System;
using System.Collections.Generic;
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
        private static readonly Lazy<Dictionary<string, string>> Tiny = new Lazy<Dictionary<string, string>>(
            () => BuildModels("make_tiny_models.py", "hfw-tiny-models-"), LazyThreadSafetyMode.ExecutionAndPublication);
        private static readonly Lazy<Dictionary<string, string>> Media = new Lazy<Dictionary<string, string>>(
            () => BuildModels("make_media_models.py", "hfw-media-models-"), LazyThreadSafetyMode.ExecutionAndPublication);

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

        /// <summary>
        /// Tiny random-weight model folders and media files (tests/fixtures/make_tiny_models.py), built once per
        /// run: "text-classification", "summarization", "text-generation", "automatic-speech-recognition",
        /// "image-classification", "image-to-text", "tone.wav", "picture.png".
        /// </summary>
        public static string TinyModel(string name)
        {
            return Tiny.Value[name];
        }

        /// <summary>
        /// Tiny random-weight image and speech models (tests/fixtures/make_media_models.py: needs diffusers, the
        /// `images` extra), built once per run, apart from <see cref="TinyModel"/>: "text-to-image", "text-to-speech".
        /// </summary>
        public static string MediaModel(string name)
        {
            return Media.Value[name];
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
            DeleteWhenDone(output);
            RunPython(Path.Combine(DotnetHost, "tests", "vectors", "make_vectors.py"), output);
            return output;
        }

        private static Dictionary<string, string> BuildModels(string script, string prefix)
        {
            var folder = Path.Combine(Path.GetTempPath(), prefix + Process.GetCurrentProcess().Id);
            DeleteWhenDone(folder);
            RunPython(Path.Combine(DotnetHost, "tests", "fixtures", script), folder);
            var manifest = (Dictionary<string, object>)MiniJson.Parse(File.ReadAllText(Path.Combine(folder, "manifest.json")));
            var paths = new Dictionary<string, string>();
            foreach (var pair in manifest) paths[pair.Key] = (string)pair.Value;
            return paths;
        }

        private static void DeleteWhenDone(string path)
        {
            EventHandler delete = (sender, args) =>
            {
                try
                {
                    if (Directory.Exists(path)) Directory.Delete(path, true);
                    else if (File.Exists(path)) File.Delete(path);
                }
                catch (IOException)
                {
                }
            };
            AppDomain.CurrentDomain.DomainUnload += delete;
            AppDomain.CurrentDomain.ProcessExit += delete;
        }

        private static void RunPython(string script, string argument)
        {
            var start = new ProcessStartInfo(Python, "\"" + script + "\" \"" + argument + "\"")
            {
                UseShellExecute = false,
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                WorkingDirectory = RepoRoot,
            };
            start.Environment["HF_HUB_OFFLINE"] = "1";
            using (var process = Process.Start(start))
            {
                var output = process.StandardOutput.ReadToEndAsync();
                string errors = process.StandardError.ReadToEnd();
                output.Wait();
                if (!process.WaitForExit(120000)) throw new TimeoutException(script + " did not finish in 120 s");
                if (process.ExitCode != 0) throw new InvalidOperationException(script + " failed (exit " + process.ExitCode + "): " + errors);
            }
        }
    }
}
