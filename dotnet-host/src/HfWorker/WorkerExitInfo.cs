using System;
using System.Collections.Generic;
using System.Text;

namespace HfWorker
{
    /// <summary>
    /// Everything known about a worker that ended: so "why did my worker die" always has an answer.
    /// Carried by <see cref="WorkerProcess.Exited"/> and by the exceptions of the calls it left behind.
    /// </summary>
    public sealed class WorkerExitInfo
    {
        internal WorkerExitInfo(int processId, int? exitCode, WorkerExitReason reason, string detail,
            IReadOnlyList<string> stderrTail, DateTimeOffset startedAt, DateTimeOffset exitedAt)
        {
            ProcessId = processId;
            ExitCode = exitCode;
            Reason = reason;
            Detail = detail;
            StderrTail = stderrTail;
            StartedAt = startedAt;
            ExitedAt = exitedAt;
        }

        /// <summary>The worker's process id.</summary>
        public int ProcessId { get; private set; }

        /// <summary>The exit code, or null when it could not be read (the process could not be reaped in time).</summary>
        public int? ExitCode { get; private set; }

        /// <summary>Why it ended.</summary>
        public WorkerExitReason Reason { get; private set; }

        /// <summary>The host's own account when it ended the worker (which deadline was missed, say); null otherwise.</summary>
        public string Detail { get; private set; }

        /// <summary>The last lines the worker wrote to stderr (its logs and any traceback), oldest first.</summary>
        public IReadOnlyList<string> StderrTail { get; private set; }

        /// <summary>When the process started.</summary>
        public DateTimeOffset StartedAt { get; private set; }

        /// <summary>When the host noticed the end.</summary>
        public DateTimeOffset ExitedAt { get; private set; }

        /// <summary>How long it ran.</summary>
        public TimeSpan Uptime
        {
            get { return ExitedAt - StartedAt; }
        }

        /// <summary>True for every end except <see cref="WorkerExitReason.Stopped"/>.</summary>
        public bool Unexpected
        {
            get { return Reason != WorkerExitReason.Stopped; }
        }

        /// <summary>One line: who, how, why.</summary>
        public string Summary
        {
            get
            {
                var text = new StringBuilder();
                text.Append("worker process ").Append(ProcessId);
                switch (Reason)
                {
                    case WorkerExitReason.Unresponsive: text.Append(" was killed as unresponsive"); break;
                    case WorkerExitReason.Killed: text.Append(" was killed by the host"); break;
                    case WorkerExitReason.ProtocolError: text.Append(" was stopped after a protocol error"); break;
                    case WorkerExitReason.Stopped: text.Append(" was stopped"); break;
                    default: text.Append(" exited unexpectedly"); break;
                }
                if (ExitCode.HasValue) text.Append(" (exit code ").Append(ExitCode.Value).Append(DescribeExitCode(ExitCode.Value)).Append(')');
                else text.Append(" (exit code unknown)");
                if (!string.IsNullOrEmpty(Detail)) text.Append(": ").Append(Detail);
                return text.ToString();
            }
        }

        /// <summary>The summary and the last <paramref name="lines"/> stderr lines, for exception messages and logs.</summary>
        public string Describe(int lines = 10)
        {
            var text = new StringBuilder(Summary);
            if (StderrTail.Count == 0)
            {
                text.Append(". It wrote nothing to stderr.");
                return text.ToString();
            }
            int first = Math.Max(0, StderrTail.Count - lines);
            text.Append(". Last stderr lines:");
            for (int i = first; i < StderrTail.Count; i++) text.Append(Environment.NewLine).Append("  ").Append(StderrTail[i]);
            return text.ToString();
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return Summary;
        }

        private static string DescribeExitCode(int code)
        {
            // Shells and Mono report death by signal N as 128 + N.
            if (code > 128 && code < 160)
            {
                int signal = code - 128;
                string name = signal == 9 ? "SIGKILL" : signal == 15 ? "SIGTERM" : signal == 6 ? "SIGABRT" : signal == 11 ? "SIGSEGV" : "signal " + signal;
                return ", " + name + "?";
            }
            return "";
        }
    }
}
