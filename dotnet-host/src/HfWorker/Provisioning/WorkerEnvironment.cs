using System;
using System.Collections.Generic;
using System.IO;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// A ready Python environment with hf-worker installed: what <see cref="WorkerEnvironmentBuilder.EnsureAsync"/>
    /// returns, and what <see cref="WorkerProcessOptions.For(WorkerEnvironment)"/> and
    /// <see cref="WorkerPoolOptions.For(WorkerEnvironment)"/> start workers in.
    /// </summary>
    /// <example>
    /// <code>
    /// var env = await WorkerEnvironment.CreateBuilder()
    ///     .WithPython("3.11").WithHfWorker("0.1.0").WithExtras("models").WithTorch(TorchBuild.Cpu)
    ///     .EnsureAsync(progress, token);
    /// using (var pool = await WorkerPool.StartAsync(WorkerPoolOptions.For(env), token)) { ... }
    /// </code>
    /// </example>
    public sealed class WorkerEnvironment
    {
        internal const string MarkerName = "hf-worker-environment.txt";
        internal const string LockName = "requirements.lock.txt";

        internal WorkerEnvironment(string folder, string specification, bool built)
        {
            Folder = folder;
            Specification = specification;
            Built = built;
            PythonExecutable = PythonIn(folder);
            LockFile = Path.Combine(folder, LockName);
            Packages = LockFileText.Packages(File.ReadAllText(LockFile));
        }

        /// <summary>A builder with every default: Python 3.11, the latest hf-worker, no extras, torch <see cref="TorchBuild.Auto"/>.</summary>
        public static WorkerEnvironmentBuilder CreateBuilder()
        {
            return new WorkerEnvironmentBuilder();
        }

        /// <summary>The environment's folder: <c>&lt;cache folder&gt;/py&lt;version&gt;-&lt;hash of the specification&gt;</c>.</summary>
        public string Folder { get; private set; }

        /// <summary>The environment's interpreter (<c>bin/python</c>, or <c>Scripts\python.exe</c> on Windows).</summary>
        public string PythonExecutable { get; private set; }

        /// <summary>The lock file of exactly what is installed (<c>requirements.lock.txt</c> in <see cref="Folder"/>); give it to <see cref="WorkerEnvironmentBuilder.WithLockFile"/> to build the same elsewhere.</summary>
        public string LockFile { get; private set; }

        /// <summary>Every package installed, with its exact version, as the lock file says.</summary>
        public IReadOnlyList<InstalledPackage> Packages { get; private set; }

        /// <summary>The specification the folder's name is the hash of, one fact a line.</summary>
        public string Specification { get; private set; }

        /// <summary>True when this ensure built the environment; false when it was found ready.</summary>
        public bool Built { get; private set; }

        internal static string PythonIn(string folder)
        {
            return Path.DirectorySeparatorChar == '\\' ? Path.Combine(folder, "Scripts", "python.exe") : Path.Combine(folder, "bin", "python");
        }

        /// <summary>
        /// True when <paramref name="folder"/> is a finished environment: its marker, lock file and interpreter are
        /// there. Files only: this is the whole of a ready ensure's work.
        /// </summary>
        internal static bool IsReady(string folder)
        {
            return File.Exists(Path.Combine(folder, MarkerName)) && File.Exists(Path.Combine(folder, LockName)) && File.Exists(PythonIn(folder));
        }

        /// <summary>The folder and the number of packages.</summary>
        public override string ToString()
        {
            return Folder + " (" + Packages.Count + " packages)";
        }
    }
}
