namespace HfWorker
{
    /// <summary>How the host and the worker exchange frames.</summary>
    public enum WorkerTransport
    {
        /// <summary>The worker's stdin and stdout (the worker keeps stray prints off them).</summary>
        Stdio,

        /// <summary>
        /// A named pipe the host creates with <see cref="System.IO.Pipes.NamedPipeServerStream"/>; the worker
        /// connects with <c>--pipe</c>. On Linux and macOS that is a Unix domain socket in a new folder only this
        /// user can enter, on Windows <c>\\.\pipe\NAME</c>, current-user-only where the runtime allows. Whoever
        /// connects is checked (its user and process where the OS tells, then the start token) before anything is
        /// sent; another process is refused and the host waits on for the worker it started.
        /// Stdout is then free for anything, and a library writing to it cannot reach the protocol.
        /// </summary>
        NamedPipe,
    }
}
