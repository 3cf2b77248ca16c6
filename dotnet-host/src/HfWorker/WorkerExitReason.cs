namespace HfWorker
{
    /// <summary>Why a worker process ended.</summary>
    public enum WorkerExitReason
    {
        /// <summary>The process ended on its own: a crash, an exit call, a signal from outside (the exit code says which).</summary>
        Exited,

        /// <summary>The host killed it because it did not answer <c>worker/ping</c> within the deadline (hung).</summary>
        Unresponsive,

        /// <summary>The host killed it on request (<see cref="WorkerProcess.Kill"/>), or because it outlived its shutdown grace period.</summary>
        Killed,

        /// <summary>The host ended it because its output broke the protocol.</summary>
        ProtocolError,

        /// <summary>Stopped on purpose by <see cref="WorkerProcess.StopAsync"/> or Dispose: the one expected exit.</summary>
        Stopped,
    }
}
