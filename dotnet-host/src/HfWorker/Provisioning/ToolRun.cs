using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Launch;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// Runs one uv, pip or python command of a provisioning: its output lines go to the progress as they come,
    /// its stdout is kept for the caller, its stderr's tail for the error, and a cancellation kills it with every
    /// process it started (a build backend, a compiler).
    /// </summary>
    internal sealed class ToolRun
    {
        private const int TailLines = 40;

        private readonly ProgressSink _progress;
        private readonly EnvironmentStage _stage;
        private readonly string _workingDirectory;

        /// <summary>A runner whose output lines are reported under <paramref name="stage"/>; commands run in <paramref name="workingDirectory"/>.</summary>
        public ToolRun(ProgressSink progress, EnvironmentStage stage, string workingDirectory)
        {
            _progress = progress;
            _stage = stage;
            _workingDirectory = workingDirectory;
        }

        /// <summary>What the command wrote and how it ended.</summary>
        public sealed class Result
        {
            public int ExitCode;
            public List<string> Stdout = new List<string>();
            public IReadOnlyList<string> StderrTail;
        }

        /// <summary>Run <paramref name="program"/> and wait for it; throws <see cref="EnvironmentException"/> when it fails, with <paramref name="what"/> and its stderr.</summary>
        public async Task<Result> CheckedAsync(string what, string program, IEnumerable<string> arguments, CancellationToken token)
        {
            var result = await RunAsync(program, arguments, token).ConfigureAwait(false);
            if (result.ExitCode != 0)
            {
                throw new EnvironmentException(what + " failed (" + Path.GetFileName(program) + " exited with "
                    + result.ExitCode.ToString(CultureInfo.InvariantCulture) + ")", result.StderrTail);
            }
            return result;
        }

        /// <summary>Run <paramref name="program"/> and wait for it, whatever its exit code.</summary>
        public Task<Result> RunAsync(string program, IEnumerable<string> arguments, CancellationToken token)
        {
            token.ThrowIfCancellationRequested();
            var info = new ProcessStartInfo(program, CommandLine.Join(arguments))
            {
                UseShellExecute = false,
                CreateNoWindow = true,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                // Not the app's folder: uv would read a pyproject.toml or uv.toml it found there.
                WorkingDirectory = _workingDirectory,
            };
            // uv colours and animates its output for a terminal; the lines go to a progress callback.
            info.Environment["NO_COLOR"] = "1";
            info.Environment["UV_NO_PROGRESS"] = "1";
            info.Environment["PIP_PROGRESS_BAR"] = "off";
            info.Environment["PYTHONUTF8"] = "1";
            var process = new Process { StartInfo = info };
            try
            {
                process.Start();
            }
            catch (Win32Exception e)
            {
                throw new EnvironmentException("cannot run " + program + ": " + e.Message);
            }
            process.StandardInput.Close();
            var tree = ProcessTree.Of(process);
            var result = new Result();
            var tail = new StderrTail(TailLines);
            string tool = Path.GetFileNameWithoutExtension(program);
            var stdoutDone = OutputPump.Start(process.StandardOutput, "", new StderrTail(0), line =>
            {
                lock (result.Stdout) result.Stdout.Add(line);
                _progress.Line(_stage, tool, line);
            });
            var stderrDone = OutputPump.Start(process.StandardError, null, tail, line => _progress.Line(_stage, tool, line));
            return WaitAsync(process, tree, stdoutDone, stderrDone, tail, result, token);
        }

        private static async Task<Result> WaitAsync(Process process, ProcessTree tree, Task stdoutDone, Task stderrDone,
            StderrTail tail, Result result, CancellationToken token)
        {
            // Both pipes end when the process and every child holding them have ended.
            var bothDone = Task.WhenAll(stdoutDone, stderrDone);
            using (token.Register(() => KillTree(process, tree)))
            {
                await bothDone.ConfigureAwait(false);
                await Task.Run(() => process.WaitForExit()).ConfigureAwait(false);
            }
            try
            {
                token.ThrowIfCancellationRequested();
                result.ExitCode = process.ExitCode;
                result.StderrTail = tail.Snapshot();
                return result;
            }
            finally
            {
                tree.Dispose();
                process.Dispose();
            }
        }

        /// <summary>Kill the command's process and its descendants (children first, found by /proc on Linux; the job object on Windows).</summary>
        private static void KillTree(Process process, ProcessTree tree)
        {
            try
            {
                if (Directory.Exists("/proc/self"))
                {
                    foreach (var entry in Directory.GetDirectories("/proc"))
                    {
                        int pid;
                        if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out pid)) continue;
                        if (pid == process.Id || ProcessAncestry.Descends(pid, process.Id) != true) continue;
                        try
                        {
                            using (var child = Process.GetProcessById(pid)) child.Kill();
                        }
                        catch (Exception e) when (e is ArgumentException || e is InvalidOperationException || e is Win32Exception)
                        {
                            // Gone already.
                        }
                    }
                }
                tree.KillAll();
                process.Kill();
            }
            catch (Exception e) when (e is InvalidOperationException || e is Win32Exception || e is IOException || e is UnauthorizedAccessException)
            {
                // It ended on its own meanwhile.
            }
        }
    }
}
