namespace HfWorker
{
    /// <summary>How the host and the worker exchange frames.</summary>
    public enum WorkerTransport
    {
        /// <summary>The worker's stdin and stdout (the worker keeps stray prints off them).</summary>
        Stdio,

        /// <summary>
        /// A named pipe the host creates with <see cref="System.IO.Pipes.NamedPipeServerStream"/>; the worker
        /// connects with <c>--pipe NAME</c>. On Linux and macOS that is the Unix domain socket
        /// <c>$TMPDIR/CoreFxPipe_NAME</c> (Mono and .NET alike), on Windows <c>\\.\pipe\NAME</c>.
        /// Stdout is then free for anything, and a library writing to it cannot reach the protocol.
        /// </summary>
        NamedPipe,
    }
}
