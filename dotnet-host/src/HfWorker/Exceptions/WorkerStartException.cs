using System;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// The worker could not be started, or did not send <c>worker/ready</c> in time. When the process
    /// ran at all, <see cref="ExitInfo"/> holds its exit code and the stderr lines that say why.
    /// </summary>
    public sealed class WorkerStartException : HfWorkerException
    {
        /// <summary>A failed start.</summary>
        public WorkerStartException(string message, WorkerExitInfo exitInfo = null, Exception inner = null)
            : base(exitInfo == null ? message : message + ". " + exitInfo.Describe(20), inner)
        {
            ExitInfo = exitInfo;
        }

        /// <summary>How the process ended, if it started at all; null otherwise.</summary>
        public WorkerExitInfo ExitInfo { get; private set; }

        /// <summary>The start failed on a setting that cannot work however often it is tried (an interpreter that does not exist): a pool does not try again.</summary>
        internal bool Permanent { get; set; }
    }
}
