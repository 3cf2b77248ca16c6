namespace HfWorker.Diagnostics
{
    /// <summary>The kinds of <see cref="HostEvent"/>. New kinds may be added in later versions: handle unknown ones.</summary>
    public enum HostEventKind
    {
        /// <summary>A worker sent <c>worker/ready</c>.</summary>
        WorkerStarted,

        /// <summary>A worker took longer than expected to become ready.</summary>
        SlowStart,

        /// <summary>A worker could not be started.</summary>
        StartFailed,

        /// <summary>A worker ended; the message has the reason and the exit code.</summary>
        WorkerExited,

        /// <summary>A pool is starting a replacement for a worker that ended.</summary>
        Restarting,

        /// <summary>The host killed a worker (hung, did not stop in time, refused at start).</summary>
        Killed,

        /// <summary>A worker missed its health ping while busy with a long call; it is not killed yet.</summary>
        Busy,

        /// <summary>A call whose worker died was sent again to another worker.</summary>
        Retried,

        /// <summary>A peer that could not prove it is the started worker was refused.</summary>
        ConnectionRefused,

        /// <summary>The connection or the worker misbehaved in a way the host worked around (a malformed message, an unknown id).</summary>
        ProtocolWarning,
    }
}
