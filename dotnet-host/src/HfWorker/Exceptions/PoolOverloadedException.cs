namespace HfWorker.Exceptions
{
    /// <summary>
    /// The pool's queue was full and <see cref="WorkerPoolOptions.WhenQueueFull"/> is
    /// <see cref="QueueFullBehavior.Throw"/>: the call was refused before reaching any worker, so it
    /// is always safe to retry later.
    /// </summary>
    public sealed class PoolOverloadedException : HfWorkerException
    {
        /// <summary>A refused call.</summary>
        public PoolOverloadedException(string method, int queueLength)
            : base(method + ": refused, the pool's queue is full (" + queueLength + " calls waiting); retry later or raise MaxQueueLength")
        {
            Method = method;
            QueueLength = queueLength;
        }

        /// <summary>The method refused.</summary>
        public string Method { get; private set; }

        /// <summary>The queue length at the time.</summary>
        public int QueueLength { get; private set; }
    }
}
