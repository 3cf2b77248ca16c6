namespace HfWorker.Exceptions
{
    /// <summary>
    /// A call left unanswered by a worker that ended unexpectedly: it crashed, was killed from
    /// outside, was killed by the pool as unresponsive, or broke the protocol. The pool retries such a
    /// call once on another worker when it is marked <see cref="Invocation{T}.SafeToRetry"/>.
    /// </summary>
    public class WorkerCrashedException : WorkerExitedException
    {
        /// <summary>A call left unanswered by a worker that ended unexpectedly.</summary>
        public WorkerCrashedException(WorkerExitInfo exitInfo, string method) : base(exitInfo, method)
        {
        }

        /// <summary>For subclasses that phrase the message themselves (<see cref="TensorLostException"/>).</summary>
        protected WorkerCrashedException(WorkerExitInfo exitInfo, string method, string message) : base(exitInfo, method, message)
        {
        }
    }
}
