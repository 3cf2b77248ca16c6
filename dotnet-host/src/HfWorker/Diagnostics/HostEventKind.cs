namespace HfWorker.Diagnostics
{
    /// <summary>The kinds of <see cref="HostEvent"/>. New kinds may be added in later versions: handle unknown ones.</summary>
    public enum HostEventKind
    {
        /// <summary>A worker sent <c>worker/ready</c>.</summary>
        WorkerStarted,

        /// <summary>A worker took more than half of its <see cref="WorkerProcessOptions.StartTimeout"/> to become ready (reported after <see cref="WorkerStarted"/>).</summary>
        SlowStart,

        /// <summary>A worker could not be started, or its start was cancelled; the message has the reason's first line.</summary>
        StartFailed,

        /// <summary>A worker ended, however it ended; the message has the reason and the exit code (<see cref="WorkerExitInfo.Summary"/>).</summary>
        WorkerExited,

        /// <summary>A pool slot is about to start a replacement for the worker that ended (whose pid the event carries), after the back-off the message gives.</summary>
        Restarting,

        /// <summary>The host is killing a worker and its process tree (hung, did not stop in time, refused at start, Kill called); the message says who and why. Comes before that worker's <see cref="WorkerExited"/>.</summary>
        Killed,

        /// <summary>
        /// A pool's worker missed its health ping but has calls in flight and its CPU time grew (a call holding the GIL):
        /// busy, not hung, so it is left alone (Warning, once per spell); and, at Information, that it answered again.
        /// </summary>
        Busy,

        /// <summary>A call marked safe to retry, whose worker crashed, exited or was killed on request, was sent again to another worker.</summary>
        Retried,

        /// <summary>A peer that could not prove it is the started worker was refused.</summary>
        ConnectionRefused,

        /// <summary>The connection or the worker misbehaved in a way the host worked around (a malformed message, an unknown id).</summary>
        ProtocolWarning,

        /// <summary>A cancelled or timed-out call's handler still runs in its worker after the worker's -32800 (<see cref="WorkerProcess.AbandonedCalls"/>).</summary>
        CallAbandoned,

        /// <summary>Such a handler has returned (<c>worker/handlerDone</c>): its worker is that much less busy.</summary>
        AbandonedCallStopped,

        /// <summary>
        /// Code run inline on a worker's reader (a call's continuation, a progress or notification handler) held it up for
        /// over 20 ms, or its write waited on a full pipe, so another thread took over reading that worker's frames
        /// (Warning): nothing waits behind it, but keep blocking and long work off the continuations of calls.
        /// </summary>
        ReaderTakenOver,
    }
}
