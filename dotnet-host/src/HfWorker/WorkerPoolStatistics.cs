namespace HfWorker
{
    /// <summary>A snapshot of a pool's counters (<see cref="WorkerPool.Statistics"/>).</summary>
    public sealed class WorkerPoolStatistics
    {
        /// <summary>Worker slots (<see cref="WorkerPoolOptions.WorkerCount"/>).</summary>
        public int Workers { get; internal set; }

        /// <summary>Workers taking calls now (the others are being restarted).</summary>
        public int ReadyWorkers { get; internal set; }

        /// <summary>Calls running on a worker (work that a cancel or a timeout left running is in <see cref="AbandonedCalls"/>, not here).</summary>
        public int InFlight { get; internal set; }

        /// <summary>
        /// Calls nobody waits for any more (cancelled or timed out) whose work still runs in a worker, summed over the
        /// workers (<see cref="WorkerProcess.AbandonedCalls"/> gives each worker's). Routing and
        /// <see cref="WorkerPoolOptions.MaxCallsPerWorker"/> count them with <see cref="InFlight"/>: a worker whose
        /// calls plus abandoned work reach the limit gets no call until some of it stops.
        /// </summary>
        public int AbandonedCalls { get; internal set; }

        /// <summary>Calls accepted and waiting for a worker.</summary>
        public int QueueLength { get; internal set; }

        /// <summary>Callers waiting for room in a full queue (<see cref="QueueFullBehavior.Wait"/>).</summary>
        public int WaitingForQueue { get; internal set; }

        /// <summary>Calls that ended with a result.</summary>
        public long Succeeded { get; internal set; }

        /// <summary>Calls that ended with an exception (timeouts, worker errors and crashes included; cancellations not).</summary>
        public long Failed { get; internal set; }

        /// <summary>Calls cancelled by their caller.</summary>
        public long Cancelled { get; internal set; }

        /// <summary>Calls that timed out.</summary>
        public long TimedOut { get; internal set; }

        /// <summary>Calls refused because the queue was full.</summary>
        public long Rejected { get; internal set; }

        /// <summary>Calls sent again to another worker after theirs died (<see cref="Invocation{T}.SafeToRetry"/>).</summary>
        public long Retried { get; internal set; }

        /// <summary>Attempts to replace a worker that ended, each starting a new process (<see cref="FailedStarts"/> counts those that did not make it).</summary>
        public long Restarts { get; internal set; }

        /// <summary>Workers killed because they did not answer <c>worker/ping</c> in time.</summary>
        public long HungWorkersKilled { get; internal set; }

        /// <summary>Attempts to start or set up a worker that failed (it died, hung or could not load its models), at the pool's start or as a replacement.</summary>
        public long FailedStarts { get; internal set; }

        /// <summary>Every counter, in one line (for a log).</summary>
        public override string ToString()
        {
            return "workers " + ReadyWorkers + "/" + Workers + ", in flight " + InFlight + ", abandoned " + AbandonedCalls + ", queued " + QueueLength
                + ", waiting for the queue " + WaitingForQueue + ", succeeded " + Succeeded + ", failed " + Failed + " (timed out " + TimedOut
                + "), rejected " + Rejected + ", cancelled " + Cancelled + ", retried " + Retried + ", restarts " + Restarts
                + ", failed starts " + FailedStarts + ", hung killed " + HungWorkersKilled;
        }
    }
}
