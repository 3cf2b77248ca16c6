using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// What an environment is, as text, and the folder name that text hashes to. Where packages come from
    /// (indexes, find-links, uv) is not part of it: a mirror that moves must not rebuild every environment, and a
    /// ready one must be found with the network and uv out of reach.
    /// </summary>
    internal sealed class EnvironmentSpec
    {
        // Raised when the layout of a folder or what goes into the hash changes, so old folders are not taken.
        private const string Format = "hf-worker-environment 1";

        public string PythonVersion;
        public string HfWorker;            // null: the latest hf-worker the indexes have
        public List<string> Extras = new List<string>();
        public List<string> Packages = new List<string>();
        public TorchBuild Torch = TorchBuild.Auto;
        public string LockFile;

        /// <summary>The hf-worker requirement line: a version (<c>0.1.0</c>, <c>&gt;=0.1</c>), a wheel or a folder.</summary>
        public string HfWorkerRequirement()
        {
            string extras = Extras.Count == 0 ? "" : "[" + string.Join(",", Extras) + "]";
            if (string.IsNullOrEmpty(HfWorker)) return "hf-worker" + extras;
            if (IsLocal(HfWorker)) return "hf-worker" + extras + " @ " + new Uri(Path.GetFullPath(HfWorker)).AbsoluteUri;
            return "hf-worker" + extras + (char.IsDigit(HfWorker[0]) ? "==" : "") + HfWorker;
        }

        /// <summary>The requirements a resolver is given: hf-worker first, then the extra packages.</summary>
        public string RequirementsText()
        {
            var lines = new List<string> { HfWorkerRequirement() };
            lines.AddRange(Packages);
            return string.Join("\n", lines) + "\n";
        }

        /// <summary>Every fact the environment's content depends on, one per line.</summary>
        public string Text()
        {
            var text = new StringBuilder();
            text.Append(Format).Append('\n');
            text.Append("platform=").Append(Platform()).Append('\n');
            text.Append("python=").Append(PythonVersion).Append('\n');
            text.Append("requirement=").Append(HfWorkerRequirement()).Append('\n');
            // A wheel is named by its content: a new build of the same version is a new environment. A folder is
            // taken as it is when first built (hashing a source tree on every ensure would cost the ready path).
            if (!string.IsNullOrEmpty(HfWorker) && File.Exists(HfWorker)) text.Append("wheel-sha256=").Append(Sha256(File.ReadAllBytes(HfWorker))).Append('\n');
            foreach (var package in Packages) text.Append("package=").Append(package).Append('\n');
            text.Append("torch=").Append(Torch).Append('\n');
            if (LockFile != null) text.Append("lock-sha256=").Append(Sha256(File.ReadAllBytes(LockFile))).Append('\n');
            return text.ToString();
        }

        /// <summary>The environment's folder name: the first 20 hex digits of the SHA-256 of <see cref="Text"/>.</summary>
        public string FolderName()
        {
            return "py" + PythonVersion + "-" + Sha256(Encoding.UTF8.GetBytes(Text())).Substring(0, 20);
        }

        public static bool IsLocal(string source)
        {
            return source.EndsWith(".whl", StringComparison.OrdinalIgnoreCase) || Directory.Exists(source)
                || source.IndexOf(Path.DirectorySeparatorChar) >= 0 || source.IndexOf('/') >= 0;
        }

        private static string Platform()
        {
            string os = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "windows"
                : RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? "macos"
                : RuntimeInformation.IsOSPlatform(OSPlatform.Linux) ? "linux" : "other";
            return os + "-" + RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();
        }

        internal static string Sha256(byte[] bytes)
        {
            using (var sha = SHA256.Create())
            {
                return string.Concat(sha.ComputeHash(bytes).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
            }
        }
    }
}
