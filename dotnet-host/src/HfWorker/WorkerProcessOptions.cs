using System;
using System.Collections.Generic;
using System.Threading;

namespace HfWorker
{
    /// <summary>How to start one worker process and how to treat it. Every default is stated.</summary>
    public sealed class WorkerProcessOptions
    {
        /// <summary>
        /// The Python interpreter to run. Default null: the one in <see cref="VirtualEnvironment"/> when that
        /// is set, else <c>python3</c> (<c>python</c> on Windows) from the PATH.
        /// </summary>
        public string PythonExecutable { get; set; }

        /// <summary>
        /// A virtual environment folder with the worker installed; its interpreter
        /// (<c>bin/python</c>, or <c>Scripts\python.exe</c> on Windows) is used. Default null.
        /// </summary>
        public string VirtualEnvironment { get; set; }

        /// <summary>
        /// The module run with <c>python -m</c>. Default <c>"worker"</c>. Null runs
        /// <see cref="PythonExecutable"/> itself as the worker (the <c>hf-worker</c> console script, say).
        /// </summary>
        public string Module { get; set; } = "worker";

        /// <summary>Extra worker arguments, appended after the ones the options produce (e.g. <c>--threads 2</c>). Default none.</summary>
        public IList<string> Arguments { get; private set; } = new List<string>();

        /// <summary>Environment variables to set for the worker (HF_HOME, HF_HUB_OFFLINE...); a null value removes one. Default: inherit the host's.</summary>
        public IDictionary<string, string> Environment { get; private set; } = new Dictionary<string, string>();

        /// <summary>The worker's working directory. Default null: the host's.</summary>
        public string WorkingDirectory { get; set; }

        /// <summary>Stdio or a named pipe. Default <see cref="WorkerTransport.Stdio"/>.</summary>
        public WorkerTransport Transport { get; set; } = WorkerTransport.Stdio;

        /// <summary>
        /// The pipe's name with <see cref="WorkerTransport.NamedPipe"/>. Default null: <c>pipe</c> in a new private
        /// folder (Linux, macOS) or a unique name (Windows). On Linux and macOS a name is the socket's file name in that
        /// folder, and an absolute path is the socket's path as given (its folder is then the caller's to protect).
        /// </summary>
        public string PipeName { get; set; }

        /// <summary>
        /// How long to wait for the process to start and send <c>worker/ready</c>. A start that takes more than half
        /// of it is reported as a <see cref="Diagnostics.HostEventKind.SlowStart"/> host event. Default 30 seconds.
        /// </summary>
        public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>
        /// When stopping gracefully (<see cref="WorkerProcess.StopAsync"/>, DisposeAsync): how long <c>worker/shutdown</c>
        /// lets calls in flight finish before the worker cancels them; the process tree is killed if it has not exited
        /// 5 seconds after that. Dispose does not wait for it (see <see cref="WorkerProcess.Dispose"/>). Default 10 seconds.
        /// </summary>
        public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>
        /// The timeout of calls that set none (<see cref="Invocation{T}.Timeout"/>). Default
        /// <see cref="Timeout.InfiniteTimeSpan"/>: a single worker waits as long as its calls take.
        /// </summary>
        public TimeSpan DefaultCallTimeout { get; set; } = Timeout.InfiniteTimeSpan;

        /// <summary>
        /// The largest frame either side sends; passed to the worker as <c>--max-frame-bytes</c>. At least 4096 (the
        /// worker's own minimum: its <c>worker/ready</c> and any error answer must fit); the worker would take up to
        /// 4294967295, an <c>int</c> stops at 2147483647. Default 256 MiB.
        /// </summary>
        public int MaxFrameBytes { get; set; } = 256 * 1024 * 1024;

        /// <summary>How many of the worker's last stderr lines are kept for exit reports. Default 100.</summary>
        public int StderrTailLines { get; set; } = 100;

        /// <summary>
        /// Called with each line the worker writes to stderr (its JSON log lines, tracebacks, stray
        /// prints): the first argument is the worker that wrote it (one callback can serve a whole pool:
        /// tell workers apart by <see cref="WorkerProcess.ProcessId"/>), the second the line without its
        /// line ending. The host's own diagnostics arrive, structured, at <see cref="OnHostEvent"/>. Called on the
        /// worker's stderr thread, in order; keep it quick. Default null.
        /// </summary>
        public Action<WorkerProcess, string> OnStderrLine { get; set; }

        /// <summary>
        /// Called with each thing the host itself did or saw about this worker (started, killed, retried a
        /// call, refused a rogue peer...), as a structured <see cref="Diagnostics.HostEvent"/>: route it to your
        /// logger. In a pool, the callback of <see cref="WorkerPoolOptions.Worker"/> gets every worker's events and the
        /// slots' own (<see cref="Diagnostics.HostEventKind.Restarting"/>), each tagged with its slot.
        /// Called on a background thread; keep it quick; an exception it throws is caught. Default null.
        /// </summary>
        public Action<Diagnostics.HostEvent> OnHostEvent { get; set; }

        /// <summary>Register the fault-injection methods <c>test/*</c> (<c>--enable-test-methods</c>). Never in production. Default false.</summary>
        public bool EnableTestMethods { get; set; }

        /// <summary>Let <c>model/load</c> run code shipped with a model (<c>--trust-remote-code</c>). Default false.</summary>
        public bool TrustRemoteCode { get; set; }

        /// <summary>Include Python tracebacks in error data (<c>--debug</c>). Default false.</summary>
        public bool Debug { get; set; }

        /// <summary>torch intra-op threads (<c>--threads</c>). Default null: torch's own choice.</summary>
        public int? Threads { get; set; }

        /// <summary>The worker's stderr log level: debug, info, warning or error (<c>--log-level</c>). Default null: the worker's default (info).</summary>
        public string LogLevel { get; set; }

        /// <summary>
        /// Options that start the worker in a provisioned <paramref name="environment"/> (its interpreter, as
        /// <see cref="VirtualEnvironment"/>), every other setting at its default.
        /// </summary>
        public static WorkerProcessOptions For(Provisioning.WorkerEnvironment environment)
        {
            if (environment == null) throw new ArgumentNullException("environment");
            return new WorkerProcessOptions { VirtualEnvironment = environment.Folder };
        }

        /// <summary>The smallest <see cref="MaxFrameBytes"/> the worker accepts (worker/config.py's MIN_FRAME_BYTES).</summary>
        internal const int MinFrameBytes = 4096;

        /// <summary>A copy, so that a started worker is not affected by later changes.</summary>
        public WorkerProcessOptions Clone()
        {
            var copy = (WorkerProcessOptions)MemberwiseClone();
            copy.Arguments = new List<string>(Arguments);
            copy.Environment = new Dictionary<string, string>(Environment);
            return copy;
        }

        /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
        public void Validate()
        {
            if (StartTimeout <= TimeSpan.Zero) throw new ArgumentException("StartTimeout must be positive", "StartTimeout");
            if (ShutdownGracePeriod < TimeSpan.Zero) throw new ArgumentException("ShutdownGracePeriod must not be negative", "ShutdownGracePeriod");
            if (DefaultCallTimeout <= TimeSpan.Zero && DefaultCallTimeout != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentException("DefaultCallTimeout must be positive or Timeout.InfiniteTimeSpan", "DefaultCallTimeout");
            }
            // The worker refuses a smaller --max-frame-bytes and exits: every start would fail (a pool's every attempt).
            if (MaxFrameBytes < MinFrameBytes) throw new ArgumentException("MaxFrameBytes must be at least " + MinFrameBytes + " (the worker's minimum)", "MaxFrameBytes");
            if (StderrTailLines < 0) throw new ArgumentException("StderrTailLines must not be negative", "StderrTailLines");
            if (Threads.HasValue && Threads.Value <= 0) throw new ArgumentException("Threads must be positive", "Threads");
            if (Transport == WorkerTransport.NamedPipe && PipeName != null && (PipeName.Length == 0 || PipeName.Length > 80))
            {
                throw new ArgumentException("PipeName must be 1 to 80 characters (Unix socket paths are short)", "PipeName");
            }
            if (LogLevel != null && Array.IndexOf(new[] { "debug", "info", "warning", "error" }, LogLevel) < 0)
            {
                throw new ArgumentException("LogLevel must be debug, info, warning or error", "LogLevel");
            }
        }
    }
}
