using System;
using System.Collections.Generic;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// A call that the worker never answered because its process ended. <see cref="ExitInfo"/> says
    /// why: exit code, reason and the last stderr lines.
    /// </summary>
    public class WorkerExitedException : HfWorkerException
    {
        /// <summary>A call left unanswered by a worker that ended.</summary>
        public WorkerExitedException(WorkerExitInfo exitInfo, string method)
            : this(exitInfo, method, Compose(exitInfo, method))
        {
        }

        /// <summary>For subclasses that phrase the message themselves.</summary>
        protected WorkerExitedException(WorkerExitInfo exitInfo, string method, string message) : base(message)
        {
            if (exitInfo == null) throw new ArgumentNullException("exitInfo");
            ExitInfo = exitInfo;
            Method = method;
        }

        /// <summary>How the worker ended.</summary>
        public WorkerExitInfo ExitInfo { get; private set; }

        /// <summary>The method of the call that was left unanswered (null when no call was involved).</summary>
        public string Method { get; private set; }

        /// <summary>The worker's exit code, when known.</summary>
        public int? ExitCode
        {
            get { return ExitInfo.ExitCode; }
        }

        /// <summary>The last lines the worker wrote to stderr.</summary>
        public IReadOnlyList<string> StderrTail
        {
            get { return ExitInfo.StderrTail; }
        }

        internal static string Compose(WorkerExitInfo exitInfo, string method)
        {
            string description = exitInfo.Describe();
            return method == null ? description : method + ": not answered, the " + description;
        }
    }
}
