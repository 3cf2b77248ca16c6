using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using HfWorker.Exceptions;

namespace HfWorker.Launch
{
    /// <summary>Turns <see cref="WorkerProcessOptions"/> into the command that starts the worker.</summary>
    internal static class WorkerCommand
    {
        private static readonly bool IsWindows = Path.DirectorySeparatorChar == '\\';

        /// <summary>
        /// The interpreter: the venv's, the one named, or python3/python from the PATH. A venv without one, or
        /// a named path that does not exist, throws a <see cref="WorkerStartException"/> that says where it
        /// looked, marked permanent: no later try can succeed, so a pool does not retry it.
        /// </summary>
        public static string ResolvePython(WorkerProcessOptions options)
        {
            if (!string.IsNullOrEmpty(options.VirtualEnvironment))
            {
                if (!Directory.Exists(options.VirtualEnvironment))
                {
                    throw new WorkerStartException("the virtual environment " + options.VirtualEnvironment + " does not exist") { Permanent = true };
                }
                var candidates = new[]
                {
                    Path.Combine(options.VirtualEnvironment, "bin", "python"),
                    Path.Combine(options.VirtualEnvironment, "Scripts", "python.exe"),
                };
                if (IsWindows) Array.Reverse(candidates);
                foreach (var candidate in candidates)
                {
                    if (File.Exists(candidate)) return candidate;
                }
                throw new WorkerStartException("no Python interpreter in the virtual environment " + options.VirtualEnvironment
                    + " (looked for " + string.Join(" and ", candidates) + ")") { Permanent = true };
            }
            if (!string.IsNullOrEmpty(options.PythonExecutable))
            {
                // A bare name is looked up in the PATH when the process starts (and runtimes resolve relative
                // paths differently); a full path can be checked now.
                if (Path.IsPathRooted(options.PythonExecutable) && !File.Exists(options.PythonExecutable))
                {
                    throw new WorkerStartException("the Python interpreter " + options.PythonExecutable + " does not exist") { Permanent = true };
                }
                return options.PythonExecutable;
            }
            return IsWindows ? "python" : "python3";
        }

        /// <summary>The worker's arguments: module, then what the options imply, then the caller's own.</summary>
        public static List<string> Arguments(WorkerProcessOptions options, string pipeName, int parentPid)
        {
            var args = new List<string>();
            if (options.Module != null)
            {
                args.Add("-m");
                args.Add(options.Module);
            }
            args.Add("--parent-pid");
            args.Add(parentPid.ToString(CultureInfo.InvariantCulture));
            if (ProcessTree.WorkerArgument != null) args.Add(ProcessTree.WorkerArgument);
            args.Add("--max-frame-bytes");
            args.Add(options.MaxFrameBytes.ToString(CultureInfo.InvariantCulture));
            if (pipeName != null)
            {
                args.Add("--pipe");
                args.Add(pipeName);
            }
            if (options.EnableTestMethods) args.Add("--enable-test-methods");
            if (options.TrustRemoteCode) args.Add("--trust-remote-code");
            if (options.Debug) args.Add("--debug");
            if (options.Threads.HasValue)
            {
                args.Add("--threads");
                args.Add(options.Threads.Value.ToString(CultureInfo.InvariantCulture));
            }
            if (options.LogLevel != null)
            {
                args.Add("--log-level");
                args.Add(options.LogLevel);
            }
            args.AddRange(options.Arguments);
            return args;
        }

        /// <summary>The environment variable that carries the start token to the worker (never its command line, which every user can read).</summary>
        public const string TokenVariable = "HF_WORKER_TOKEN";

        public static ProcessStartInfo StartInfo(WorkerProcessOptions options, string pipeName, int parentPid, string token)
        {
            var info = new ProcessStartInfo(ResolvePython(options), CommandLine.Join(Arguments(options, pipeName, parentPid)))
            {
                UseShellExecute = false,
                CreateNoWindow = true,
                // All three are redirected on both transports: the worker must never share the host's
                // console, and with a pipe whatever reaches stdout is collected like stderr.
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            if (options.WorkingDirectory != null) info.WorkingDirectory = options.WorkingDirectory;
            foreach (var pair in options.Environment)
            {
                if (pair.Value == null) info.Environment.Remove(pair.Key);
                else info.Environment[pair.Key] = pair.Value;
            }
            // Set last, so that no option can replace it: the worker must echo exactly this start's token.
            info.Environment[TokenVariable] = token;
            return info;
        }

        /// <summary>A new one-time secret for one start: 32 random bytes from the system's cryptographic generator, in hex.</summary>
        public static string NewToken()
        {
            var bytes = new byte[32];
            using (var random = RandomNumberGenerator.Create()) random.GetBytes(bytes);
            var text = new System.Text.StringBuilder(64);
            foreach (byte b in bytes) text.Append(b.ToString("x2", CultureInfo.InvariantCulture));
            return text.ToString();
        }

        /// <summary>True when <paramref name="presented"/> equals <paramref name="expected"/>, in a time that does not depend on where they differ.</summary>
        public static bool TokenMatches(string expected, string presented)
        {
            if (expected == null || presented == null || expected.Length != presented.Length) return false;
            int difference = 0;
            for (int i = 0; i < expected.Length; i++) difference |= expected[i] ^ presented[i];
            return difference == 0;
        }

        /// <summary>A pipe name no other worker of any host on the machine uses.</summary>
        public static string UniquePipeName(int parentPid)
        {
            return "hfw-" + parentPid.ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N").Substring(0, 12);
        }
    }
}
