namespace HfWorker.Exceptions
{
    /// <summary>
    /// A call left unanswered by a worker that ended unexpectedly: it crashed, was killed from
    /// outside, was killed by the pool as unresponsive, or broke the protocol. A pool retries such a
    /// call once on another worker when it is marked <see cref="Invocation{T}.SafeToRetry"/>, unless its
    /// worker was killed as hung or broke the protocol (the call may be the cause): then the message says
    /// that it was not retried, and why.
    /// </summary>
    public class WorkerCrashedException : WorkerExitedException
    {
        /// <summary>A call left unanswered by a worker that ended unexpectedly.</summary>
        public WorkerCrashedException(WorkerExitInfo exitInfo, string method) : base(exitInfo, method)
        {
        }

        private WorkerCrashedException(string message, WorkerExitInfo exitInfo, string method) : base(exitInfo, method, message)
        {
        }

        /// <summary>A call that was safe to retry but was not, because <paramref name="why"/>.</summary>
        internal static WorkerCrashedException NotRetried(WorkerExitInfo exitInfo, string method, string why)
        {
            return new WorkerCrashedException(method + ": not answered, and not retried on another worker although marked SafeToRetry: "
                + why + ". The " + exitInfo.Describe(), exitInfo, method);
        }

        /// <summary>For subclasses that phrase the message themselves (<see cref="TensorLostException"/>).</summary>
        protected WorkerCrashedException(WorkerExitInfo exitInfo, string method, string message) : base(exitInfo, method, message)
        {
        }
    }
}
