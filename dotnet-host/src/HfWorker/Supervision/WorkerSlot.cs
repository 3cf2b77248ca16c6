namespace HfWorker.Supervision
{
    /// <summary>
    /// One place in a pool, filled by one worker process at a time. A worker that ends is replaced in
    /// its slot; the slot keeps the counts the back-off needs. Fields are guarded by the pool's lock.
    /// </summary>
    internal sealed class WorkerSlot
    {
        public WorkerSlot(int index)
        {
            Index = index;
        }

        public int Index { get; private set; }

        /// <summary>The worker taking calls, or null while the slot is being refilled.</summary>
        public WorkerProcess Active;

        /// <summary>
        /// True when its active worker can be sent calls: one already ending (killed, not yet replaced)
        /// would fail them at once, and the next, and the next.
        /// </summary>
        public bool TakesCalls
        {
            get { return Active != null && !Active.IsEnding; }
        }

        /// <summary>A worker started and being set up (models loading), not yet taking calls.</summary>
        public WorkerProcess SettingUp;

        /// <summary>Pool calls running on the active worker.</summary>
        public int InFlight;

        /// <summary>
        /// What the active worker is busy with: the pool calls running on it plus its abandoned calls (cancelled or
        /// timed out, their work still running in the worker: <see cref="WorkerProcess.AbandonedCalls"/>). Routing
        /// and <see cref="WorkerPoolOptions.MaxCallsPerWorker"/> go by this, so a worker that a cancel left busy
        /// gets no more calls than one still running them.
        /// </summary>
        public int Load
        {
            get
            {
                var worker = Active;
                return InFlight + (worker == null ? 0 : worker.AbandonedCalls);
            }
        }

        /// <summary>The worker whose abandoned work the dispatcher listens to (it pumps the queue when some stops).</summary>
        public WorkerProcess Watched;

        /// <summary>Failures in a row (short-lived workers, failed starts); sets the back-off.</summary>
        public int ConsecutiveFailures;

        /// <summary>True while a health ping is out, so pings never pile up on a slow worker.</summary>
        public bool Pinging;
    }
}
