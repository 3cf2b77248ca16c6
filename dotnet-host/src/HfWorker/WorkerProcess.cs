using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Pipes;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Launch;
using HfWorker.Protocol;
using HfWorker.Utils;

namespace HfWorker
{
    /// <summary>
    /// One worker process: started, handshaken, called, watched until it ends, and stopped gracefully.
    /// </summary>
    /// <remarks>
    /// <para>Life cycle: <see cref="StartAsync"/> launches <c>python -m worker --parent-pid PID ...</c>
    /// over stdio or a named pipe and returns once the worker has sent <c>worker/ready</c>. Calls may then
    /// run concurrently from any thread. When the process ends for any reason, every call it leaves
    /// unanswered fails with <see cref="WorkerExitedException"/> (<see cref="WorkerCrashedException"/>
    /// unless the host stopped it) carrying the exit code and the last stderr lines, and
    /// <see cref="Exited"/> is raised with the same facts.</para>
    /// <para>Stopping: <see cref="StopAsync"/> (and DisposeAsync) sends <c>worker/shutdown</c>, which lets calls in
    /// flight finish within the grace period, then kills the process tree if it is still there 5 seconds later.
    /// Dispose stops at once instead and returns within about 3 seconds (see <see cref="Dispose"/>).
    /// The worker also exits by itself when the host process is gone (<c>--parent-pid</c>).</para>
    /// <para>What the host does to the worker (started, slow to start, killed, exited) is reported to
    /// <see cref="WorkerProcessOptions.OnHostEvent"/> as it happens.</para>
    /// </remarks>
    public sealed partial class WorkerProcess : IWorkerInvoker, IDisposable
    {
        private static readonly TimeSpan StreamEndWait = TimeSpan.FromSeconds(2);
        private static readonly TimeSpan StderrDrainWait = TimeSpan.FromSeconds(1);
        private static readonly TimeSpan KillAfterGrace = TimeSpan.FromSeconds(5);

        private readonly WorkerProcessOptions _options;
        private readonly StderrTail _stderr;
        private readonly string _token = WorkerCommand.NewToken();
        private readonly TaskCompletionSource<WorkerReadyInfo> _ready = NewSource<WorkerReadyInfo>();
        private readonly TaskCompletionSource<WorkerExitInfo> _exited = NewSource<WorkerExitInfo>();
        private readonly TaskCompletionSource<bool> _streamEnded = NewSource<bool>();
        private readonly object _reasonLock = new object();
        private Process _process;
        private ProcessTree _tree;
        private WorkerPipe _pipe;
        private Framing.SocketFileStreams _socketStreams;
        private RpcConnection _connection;
        private Task _stderrDone = Task.FromResult(true);
        private Task _stdoutDone = Task.FromResult(true);
        private WorkerExitReason? _hostReason;
        private string _hostDetail;
        private int _terminating;

        private WorkerProcess(WorkerProcessOptions options, int slot)
        {
            _options = options;
            _stderr = new StderrTail(options.StderrTailLines);
            Events = new Diagnostics.HostEvents(options.OnHostEvent, _stderr) { Slot = slot };
        }

        /// <summary>Where this worker's host events go (its stderr tail and <see cref="WorkerProcessOptions.OnHostEvent"/>); a pool sets its slot.</summary>
        internal Diagnostics.HostEvents Events { get; private set; }

        /// <summary>Start a worker and wait for its <c>worker/ready</c>. Throws <see cref="WorkerStartException"/> with the reason when it does not come.</summary>
        public static Task<WorkerProcess> StartAsync(WorkerProcessOptions options, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (options == null) throw new ArgumentNullException("options");
            options.Validate();
            return StartInSlotAsync(options.Clone(), -1, cancellationToken);
        }

        /// <summary>Start a worker for a pool's <paramref name="slot"/> (-1 outside a pool), with options already validated and copied.</summary>
        internal static async Task<WorkerProcess> StartInSlotAsync(WorkerProcessOptions options, int slot, CancellationToken cancellationToken)
        {
            var worker = new WorkerProcess(options, slot);
            System.Runtime.ExceptionServices.ExceptionDispatchInfo failure;
            try
            {
                // First, before anything is made: a missing interpreter is a setting that can never work.
                WorkerCommand.ResolvePython(options);
                await worker.StartCoreAsync(cancellationToken).ConfigureAwait(false);
                return worker;
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                worker.KillWith(WorkerExitReason.Killed, "its start failed");
                bool cancelled = e is OperationCanceledException;
                worker.Events.Emit(Diagnostics.HostEventKind.StartFailed,
                    cancelled ? Diagnostics.HostEventLevel.Information : Diagnostics.HostEventLevel.Error, worker.ProcessId,
                    (cancelled ? "worker start cancelled: " : "worker could not start: ") + FirstLine(e.Message));
            }
            // The caller hears of the failure once the killed process has ended (briefly bounded), so that
            // its pipe folder, handles and child processes are gone by then, not a few seconds later.
            await worker._exited.Task.EndsWithin(KillAfterGrace).ConfigureAwait(false);
            failure.Throw();
            throw new InvalidOperationException("unreachable");
        }

        /// <summary>A start that takes longer than this (half of <see cref="WorkerProcessOptions.StartTimeout"/>) is reported as <see cref="Diagnostics.HostEventKind.SlowStart"/>.</summary>
        internal static TimeSpan SlowStartAfter(TimeSpan startTimeout)
        {
            return TimeSpan.FromTicks(startTimeout.Ticks / 2);
        }

        private static string FirstLine(string text)
        {
            int end = text.IndexOfAny(new[] { '\r', '\n' });
            return end < 0 ? text : text.Substring(0, end);
        }

        /// <summary>Raised once when the process has ended, for whatever reason, after its unanswered calls were failed. Raised on a background thread.</summary>
        public event EventHandler<WorkerExitedEventArgs> Exited;

        /// <summary>
        /// Raised for each notification from the worker other than <c>$/progress</c>, <c>worker/ready</c> and
        /// <c>worker/handlerDone</c> (the host consumes that one: see <see cref="AbandonedCalls"/>). Raised on the
        /// connection's reader: keep it quick.
        /// </summary>
        public event EventHandler<WorkerNotificationEventArgs> NotificationReceived;

        /// <summary>The worker's process id.</summary>
        public int ProcessId { get; private set; }

        /// <summary>What the worker said in <c>worker/ready</c>.</summary>
        public WorkerReadyInfo ReadyInfo { get; private set; }

        /// <summary>When the process was started.</summary>
        public DateTimeOffset StartedAt { get; private set; }

        /// <summary>True once the process has ended and its calls were failed.</summary>
        public bool HasExited
        {
            get { return _exited.Task.IsCompleted; }
        }

        /// <summary>
        /// True from the first sign of the end (process exit, end of stream, a kill) on, before the end is
        /// fully settled: a pool sends such a worker nothing more.
        /// </summary>
        internal bool IsEnding
        {
            get { return Volatile.Read(ref _terminating) != 0; }
        }

        /// <summary>How many times another thread took over reading this worker's frames (see <see cref="Diagnostics.HostEventKind.ReaderTakenOver"/>).</summary>
        internal int ReaderTakeOvers
        {
            get { return _connection == null ? 0 : _connection.TakeOvers; }
        }

        /// <summary>How the process ended, or null while it runs.</summary>
        public WorkerExitInfo ExitInfo
        {
            get { return _exited.Task.IsCompleted ? _exited.Task.Result : null; }
        }

        /// <summary>Calls sent and not yet answered by the worker (work a cancel left running after its answer is in <see cref="AbandonedCalls"/>).</summary>
        public int InFlight
        {
            get { return _connection == null ? 0 : _connection.InFlight; }
        }

        /// <summary>The last lines the worker wrote to stderr, oldest first.</summary>
        public IReadOnlyList<string> StderrTail
        {
            get { return _stderr.Snapshot(); }
        }

        /// <summary>Completes when the process has ended, with how it ended.</summary>
        public Task<WorkerExitInfo> WaitForExitAsync()
        {
            return _exited.Task;
        }

        /// <inheritdoc />
        public Task<T> InvokeAsync<T>(Invocation<T> invocation, CancellationToken cancellationToken = default(CancellationToken))
        {
            // Every failure comes back as the task's, argument errors included, as from a pool (IWorkerInvoker).
            if (invocation == null) return Task.FromException<T>(new ArgumentNullException("invocation"));
            if (invocation.Affinity != null && invocation.Affinity != this)
            {
                return Task.FromException<T>(new ArgumentException(invocation.Method + " refers to a handle that lives on worker process "
                    + invocation.Affinity.ProcessId + ", not on this one (" + ProcessId + ")", "invocation"));
            }
            var timeout = invocation.Timeout ?? _options.DefaultCallTimeout;
            return _connection.InvokeAsync(invocation, this, timeout, cancellationToken);
        }

        /// <inheritdoc />
        public async Task<IWorkerSetup<T>> SetUpAsync<T>(Invocation<T> setUp, Func<T, Invocation<object>> tearDown,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var setup = new WorkerSetup<T>(setUp, tearDown, _ => true);
            await ((Supervision.IWorkerSetup)setup).RunOnAsync(this, cancellationToken).ConfigureAwait(false);
            return setup;
        }

        /// <summary>Send a notification (no answer, no error even for an unknown method).</summary>
        public Task NotifyAsync(string method, object parameters = null)
        {
            return _connection.NotifyAsync(method, parameters);
        }

        /// <summary>
        /// Call <c>worker/ping</c> and return the round-trip time. Throws <see cref="CallTimeoutException"/>
        /// when no answer comes within <paramref name="timeout"/>: the worker is then hung (ping is
        /// answered on the worker's reader thread, never queued behind work).
        /// </summary>
        public async Task<TimeSpan> PingAsync(TimeSpan timeout, CancellationToken cancellationToken = default(CancellationToken))
        {
            var ping = new Invocation<object>("worker/ping", null, reader => reader.ReadValue()) { Timeout = timeout };
            var clock = Stopwatch.StartNew();
            await InvokeAsync(ping, cancellationToken).ConfigureAwait(false);
            return clock.Elapsed;
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return "worker process " + ProcessId + (HasExited ? " (exited)" : "");
        }

        // ---- start-up ------------------------------------------------------------------------------

        private async Task StartCoreAsync(CancellationToken cancellationToken)
        {
            int hostPid;
            using (var self = Process.GetCurrentProcess()) hostPid = self.Id;
            string pipeName = null;
            if (_options.Transport == WorkerTransport.NamedPipe)
            {
                // A socket in a folder only this user can enter; whoever connects is checked before anything is sent.
                _pipe = WorkerPipe.Create(_options.PipeName, hostPid);
                pipeName = _pipe.Name;
            }
            ProcessStartInfo startInfo = null;
            try
            {
                startInfo = WorkerCommand.StartInfo(_options, pipeName, hostPid, _token);
                _process = Process.Start(startInfo);
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is InvalidOperationException || e is IOException || e is WorkerStartException)
            {
                // No process, so no ending will dispose of the pipe and its folder.
                if (_pipe != null) _pipe.Dispose();
                if (e is WorkerStartException) throw;
                // The interpreter or the working directory cannot be used: trying again cannot help.
                throw new WorkerStartException("cannot start " + startInfo.FileName + ": " + e.Message, null, e) { Permanent = true };
            }
            StartedAt = DateTimeOffset.Now;
            ProcessId = _process.Id;
            _tree = ProcessTree.Of(_process);
            _stderrDone = OutputPump.Start(_process.StandardError, null, _stderr, OnOutputLine);
            _process.EnableRaisingEvents = true;
            _process.Exited += (sender, args) => BeginTermination();
            if (_process.HasExited) BeginTermination();

            Stream input, output;
            if (_pipe != null)
            {
                _stdoutDone = OutputPump.Start(_process.StandardOutput, "[stdout] ", _stderr, OnOutputLine);
                await WaitForPipeClientAsync(pipeName, cancellationToken).ConfigureAwait(false);
                // Mono's own synchronous pipe I/O waits on asynchronous socket operations: see SocketFileStreams.
                _socketStreams = Framing.SocketFileStreams.TryOpen(_pipe.Stream);
                input = _socketStreams != null ? _socketStreams.Input : _pipe.Stream;
                output = _socketStreams != null ? _socketStreams.Output : _pipe.Stream;
            }
            else
            {
                input = _process.StandardOutput.BaseStream;
                output = _process.StandardInput.BaseStream;
            }
            _connection = new RpcConnection(input, output, _options.MaxFrameBytes)
            {
                Log = line => Events.Emit(Diagnostics.HostEventKind.ProtocolWarning, Diagnostics.HostEventLevel.Warning, ProcessId, line),
                Notification = OnNotification,
                Broken = OnStreamEnded,
                AbandonedChanged = OnAbandonedCallChanged,
                ReaderTakenOver = line => Events.Emit(Diagnostics.HostEventKind.ReaderTakenOver, Diagnostics.HostEventLevel.Warning, ProcessId, line),
            };
            _connection.StartReading();
            await WaitForReadyAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Accept the started worker's connection. Any other process that connects first (another user's, or one
        /// of ours that the host did not start) is refused before anything is sent, reported as
        /// <see cref="Diagnostics.HostEventKind.ConnectionRefused"/>, and the pipe waits on until the start timeout.
        /// </summary>
        private async Task WaitForPipeClientAsync(string pipeName, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            var refused = new List<string>();
            int refusedCount = 0;
            while (true)
            {
                var left = _options.StartTimeout - clock.Elapsed;
                Task connected;
                try
                {
                    connected = _pipe.WaitForConnectionAsync(cancellationToken);
                }
                catch (Exception e) when (e is ObjectDisposedException || e is IOException || e is InvalidOperationException)
                {
                    connected = Task.FromException(e);
                }
                // If we give up waiting, disposing the pipe faults this task; observe that here.
                connected.Forget();
                var first = left > TimeSpan.Zero
                    ? await TaskUtils.FirstWithin(left, cancellationToken, connected, _exited.Task).ConfigureAwait(false)
                    : null;
                if (first == connected && connected.Status == TaskStatus.RanToCompletion)
                {
                    var refusal = RefuseUnlessStarted();
                    if (refusal == null) return;
                    // A flood of connections is refused one by one; the error names the first few and counts the rest.
                    refusedCount++;
                    if (refused.Count < 3) refused.Add(refusal);
                    continue;
                }
                cancellationToken.ThrowIfCancellationRequested();
                var also = refused.Count == 0 ? "" : "; refused before it: a connection from " + string.Join("; a connection from ", refused)
                    + (refusedCount > refused.Count ? " and " + (refusedCount - refused.Count) + " more" : "");
                if (first == connected)
                {
                    // The pipe is disposed when the process ends: then the exit is the real story.
                    await _exited.Task.EndsWithin(KillAfterGrace).ConfigureAwait(false);
                    if (!HasExited) throw new WorkerStartException("the worker could not connect to the pipe " + pipeName + also, null, connected.Exception);
                }
                if (HasExited) throw new WorkerStartException("the worker exited before connecting to the pipe " + pipeName + also, _exited.Task.Result);
                KillWith(WorkerExitReason.Killed, "did not connect to the pipe within " + CallTimeoutException.Format(_options.StartTimeout));
                throw new WorkerStartException("the worker did not connect to the pipe " + pipeName + " within "
                    + CallTimeoutException.Format(_options.StartTimeout) + also, await _exited.Task.ConfigureAwait(false));
            }
        }

        /// <summary>Null when the peer now connected may be the started worker (its token decides); else, having refused it, why.</summary>
        private string RefuseUnlessStarted()
        {
            var peer = _pipe.Peer();
            var why = _pipe.RefusalOf(peer, _tree);
            if (why == null) return null;
            var refusal = peer + ": " + why;
            Events.Emit(Diagnostics.HostEventKind.ConnectionRefused, Diagnostics.HostEventLevel.Error, ProcessId,
                "refused a connection to the pipe from " + refusal + "; nothing was sent to it");
            try
            {
                _pipe.Refuse();
            }
            catch (Exception e) when (e is ObjectDisposedException || e is IOException || e is InvalidOperationException)
            {
                // The worker ended meanwhile and its pipe with it: the next wait reports that.
            }
            return refusal;
        }

        private async Task WaitForReadyAsync(CancellationToken cancellationToken)
        {
            var first = await TaskUtils.FirstWithin(_options.StartTimeout, cancellationToken, _ready.Task, _exited.Task).ConfigureAwait(false);
            if (first == _ready.Task)
            {
                var ready = await _ready.Task.ConfigureAwait(false);
                var refusal = Launch.ProtocolVersion.Refusal(ready);
                if (refusal != null)
                {
                    // Nothing is sent to it; another try would start the same installed worker, so a pool does not retry.
                    KillWith(WorkerExitReason.Killed, "it speaks protocol " + ready.Protocol);
                    throw new WorkerStartException(refusal, await _exited.Task.ConfigureAwait(false)) { Permanent = true };
                }
                if (ready.Framing != "length" || ready.Encoding != "msgpack")
                {
                    throw new WorkerStartException("the worker speaks " + ready.Framing + " framing and "
                        + ready.Encoding + " encoding; this host speaks length framing and msgpack");
                }
                if (!WorkerCommand.TokenMatches(_token, ready.Token))
                {
                    // Whoever sent this ready is not the process this start made (or a worker too old to
                    // echo the token): nothing is sent to it, and the process we started is ended.
                    var why = ready.Token == null ? "presented no start token" : "presented a wrong start token";
                    Events.Emit(Diagnostics.HostEventKind.ConnectionRefused, Diagnostics.HostEventLevel.Error, ProcessId,
                        "refused the peer that " + why + " (pid " + ready.ProcessId + ", started pid " + ProcessId + ")");
                    KillWith(WorkerExitReason.Killed, "its peer " + why);
                    throw new WorkerStartException("the " + (_pipe != null ? "pipe's peer" : "worker") + " " + why
                        + " in worker/ready, so it is not the process this host started (or its hf-worker is older than this host); nothing was sent to it",
                        await _exited.Task.ConfigureAwait(false));
                }
                if (ready.ProcessId != ProcessId)
                {
                    // The token proves the peer; a launcher between us and Python (a wrapper script) explains a different pid.
                    Events.Emit(Diagnostics.HostEventKind.ProtocolWarning, Diagnostics.HostEventLevel.Information, ProcessId,
                        "worker/ready came from pid " + ready.ProcessId + ", the started process is " + ProcessId + " (a launcher in between?)");
                }
                ReadyInfo = ready;
                var took = DateTimeOffset.Now - StartedAt;
                Events.Emit(Diagnostics.HostEventKind.WorkerStarted, Diagnostics.HostEventLevel.Information, ProcessId,
                    "worker " + ProcessId + " ready " + (int)took.TotalMilliseconds + " ms after its start");
                if (took > SlowStartAfter(_options.StartTimeout))
                {
                    // Half the allowance gone: the next start under the same load may not make it.
                    Events.Emit(Diagnostics.HostEventKind.SlowStart, Diagnostics.HostEventLevel.Warning, ProcessId,
                        "worker " + ProcessId + " took " + CallTimeoutException.Format(took) + " to start, more than half its StartTimeout of "
                        + CallTimeoutException.Format(_options.StartTimeout));
                }
                return;
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (first == _exited.Task) throw new WorkerStartException("the worker exited before sending worker/ready", _exited.Task.Result);
            KillWith(WorkerExitReason.Killed, "no worker/ready within " + CallTimeoutException.Format(_options.StartTimeout));
            throw new WorkerStartException("the worker did not send worker/ready within " + CallTimeoutException.Format(_options.StartTimeout),
                await _exited.Task.ConfigureAwait(false));
        }

        // ---- running -------------------------------------------------------------------------------

        private void OnNotification(IncomingMessage message)
        {
            object parameters = null;
            try
            {
                if (message.Params.Array != null && message.Params.Count > 0) parameters = new MessagePack.MessagePackReader(message.Params).ReadValue();
            }
            catch (MessagePackException e)
            {
                Events.Emit(Diagnostics.HostEventKind.ProtocolWarning, Diagnostics.HostEventLevel.Warning, ProcessId,
                    "malformed params in " + message.Method + ": " + e.Message);
                return;
            }
            if (message.Method == "worker/ready")
            {
                try
                {
                    if (!_ready.TrySetResult(WorkerReadyInfo.From(parameters))) Events.Emit(Diagnostics.HostEventKind.ProtocolWarning, Diagnostics.HostEventLevel.Warning, ProcessId, "a second worker/ready was ignored");
                }
                catch (FormatException e)
                {
                    _ready.TrySetException(new WorkerStartException("the worker's worker/ready is malformed: " + e.Message));
                }
                return;
            }
            var handler = NotificationReceived;
            if (handler == null) return;
            try
            {
                handler(this, new WorkerNotificationEventArgs(message.Method, parameters));
            }
            catch (Exception e)
            {
                Events.Emit(Diagnostics.HostEventKind.ProtocolWarning, Diagnostics.HostEventLevel.Warning, ProcessId,
                    "a NotificationReceived handler threw " + e.GetType().Name + ": " + e.Message);
            }
        }

        private void OnOutputLine(string line)
        {
            var callback = _options.OnStderrLine;
            if (callback != null) callback(this, line);
        }

        private static TaskCompletionSource<T> NewSource<T>()
        {
            return new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
