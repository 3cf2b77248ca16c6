using System;

namespace HfWorker
{
    /// <summary>The end of a worker process: <see cref="WorkerProcess.Exited"/> and <see cref="WorkerPool.WorkerExited"/>.</summary>
    public sealed class WorkerExitedEventArgs : EventArgs
    {
        internal WorkerExitedEventArgs(WorkerProcess worker, WorkerExitInfo exitInfo, int slot = -1)
        {
            Worker = worker;
            ExitInfo = exitInfo;
            Slot = slot;
        }

        /// <summary>The worker that ended.</summary>
        public WorkerProcess Worker { get; private set; }

        /// <summary>How it ended: exit code, reason, last stderr lines.</summary>
        public WorkerExitInfo ExitInfo { get; private set; }

        /// <summary>Its slot in a pool (0..WorkerCount-1), or -1 for a worker outside a pool.</summary>
        public int Slot { get; private set; }
    }

    /// <summary>A notification from the worker: <see cref="WorkerProcess.NotificationReceived"/>.</summary>
    public sealed class WorkerNotificationEventArgs : EventArgs
    {
        internal WorkerNotificationEventArgs(string method, object parameters)
        {
            Method = method;
            Parameters = parameters;
        }

        /// <summary>The notification's method.</summary>
        public string Method { get; private set; }

        /// <summary>Its params as plain .NET values (see <see cref="MessagePack.MessagePackReader.ReadValue"/>), or null.</summary>
        public object Parameters { get; private set; }
    }

    /// <summary>A pool worker that is ready to take calls: <see cref="WorkerPool.WorkerReady"/>.</summary>
    public sealed class WorkerReadyEventArgs : EventArgs
    {
        internal WorkerReadyEventArgs(WorkerProcess worker, int slot, bool isRestart)
        {
            Worker = worker;
            Slot = slot;
            IsRestart = isRestart;
        }

        /// <summary>The worker, started and set up (its models loaded).</summary>
        public WorkerProcess Worker { get; private set; }

        /// <summary>Its slot in the pool.</summary>
        public int Slot { get; private set; }

        /// <summary>
        /// True when it replaces a worker that ended; false for a slot's first worker, raised during
        /// <c>WorkerPool.StartAsync</c> (heard by handlers added in its <c>subscribe</c> callback).
        /// </summary>
        public bool IsRestart { get; private set; }
    }

    /// <summary>A failed attempt to start a worker (during the pool's start) or to start or set up a replacement: <see cref="WorkerPool.WorkerStartFailed"/>.</summary>
    public sealed class WorkerStartFailedEventArgs : EventArgs
    {
        internal WorkerStartFailedEventArgs(int slot, Exception error, TimeSpan retryIn)
        {
            Slot = slot;
            Error = error;
            RetryIn = retryIn;
        }

        /// <summary>The slot being filled.</summary>
        public int Slot { get; private set; }

        /// <summary>Why the attempt failed (a <see cref="Exceptions.WorkerStartException"/>, or the set-up call's error).</summary>
        public Exception Error { get; private set; }

        /// <summary>The back-off before the next attempt.</summary>
        public TimeSpan RetryIn { get; private set; }
    }

    /// <summary>A slot is about to start a replacement for its worker, after <see cref="Delay"/> (the back-off).</summary>
    public sealed class WorkerRestartingEventArgs : EventArgs
    {
        internal WorkerRestartingEventArgs(int slot, int consecutiveFailures, TimeSpan delay)
        {
            Slot = slot;
            ConsecutiveFailures = consecutiveFailures;
            Delay = delay;
        }

        /// <summary>The slot being refilled.</summary>
        public int Slot { get; private set; }

        /// <summary>Endings in a row of workers that lived less than <see cref="WorkerPoolOptions.RestartBackoffResetAfter"/> (or failed to start), this one included.</summary>
        public int ConsecutiveFailures { get; private set; }

        /// <summary>The wait before the replacement starts: none after a first failure, then doubling from <see cref="WorkerPoolOptions.RestartBackoffInitial"/> up to <see cref="WorkerPoolOptions.RestartBackoffMax"/>.</summary>
        public TimeSpan Delay { get; private set; }
    }
}
