using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Supervision;

namespace HfWorker
{
    /// <summary>
    /// N supervised workers behind one <see cref="IWorkerInvoker"/>: calls go to the least loaded worker
    /// through a bounded queue, hung workers are killed, dead ones are replaced, and no call is lost.
    /// </summary>
    /// <remarks>
    /// <para>Supervision model. Each of the <see cref="WorkerPoolOptions.WorkerCount"/> slots holds one
    /// worker process. Liveness is a <c>worker/ping</c> answered within
    /// <see cref="WorkerPoolOptions.PingTimeout"/>, checked every <see cref="WorkerPoolOptions.HealthCheckInterval"/>;
    /// a worker that misses it is killed as hung, unless it is busy (calls in flight and its CPU time growing: a
    /// call holding the GIL), which is left alone up to <see cref="WorkerPoolOptions.UnresponsiveLimit"/>.
    /// Whenever a worker ends (crash, kill from outside, hang), its slot starts a replacement: at once the first
    /// time, then with exponential back-off up to <see cref="WorkerPoolOptions.RestartBackoffMax"/> while
    /// replacements keep dying young. A replacement
    /// first runs every set-up registered with <see cref="SetUpAsync{T}"/> (the models loaded through the
    /// pool) and only then takes calls.</para>
    /// <para>Calls. Every call ends exactly once: with its result, the worker's error, cancelled, timed
    /// out (<see cref="WorkerPoolOptions.CallTimeout"/>), refused when the queue is full and the pool is
    /// set to refuse, or with <see cref="WorkerCrashedException"/> when its worker died with it in flight,
    /// unless it is <see cref="Invocation{T}.SafeToRetry"/> and its worker crashed, exited or was killed on
    /// request: then it runs once more on another worker (never after a kill as hung: the call may be the cause).</para>
    /// <para>Stopping. <see cref="StopAsync"/> (and DisposeAsync) fails the calls still queued, then stops
    /// every worker gracefully: calls in flight finish within the workers' grace period. Dispose stops
    /// every worker at once instead and returns within about 3 seconds (see <see cref="Dispose"/>).</para>
    /// <para>Diagnostics. What the pool does to its workers (starts, kills, exits, restarts, retries) is
    /// reported to the <see cref="WorkerProcessOptions.OnHostEvent"/> of <see cref="WorkerPoolOptions.Worker"/>,
    /// each event tagged with its slot.</para>
    /// </remarks>
    public sealed partial class WorkerPool : IWorkerInvoker, IDisposable
    {
        private readonly WorkerPoolOptions _options;
        private readonly WorkerSlot[] _slots;
        private readonly CallDispatcher _dispatcher;
        private readonly SetupRegistry _setups;
        private readonly SlotSupervisor _supervisor;
        private readonly CancellationTokenSource _stop = new CancellationTokenSource();
        private readonly List<Task> _loops = new List<Task>();
        private readonly object _eventsLock = new object();
        private Task _events = Task.FromResult(true);
        private long _hungKilled;
        private Task _stopping;

        private WorkerPool(WorkerPoolOptions options)
        {
            _options = options;
            _slots = Enumerable.Range(0, options.WorkerCount).Select(i => new WorkerSlot(i)).ToArray();
            _dispatcher = new CallDispatcher(_slots, options);
            _setups = new SetupRegistry(_dispatcher.Lock);
            _supervisor = new SlotSupervisor(options, _dispatcher, _setups, _stop.Token)
            {
                Ready = args => Raise(() => WorkerReady, args),
                Exited = args => Raise(() => WorkerExited, args),
                StartFailed = args => Raise(() => WorkerStartFailed, args),
                Restarting = args => Raise(() => WorkerRestarting, args),
            };
        }

        /// <summary>
        /// Start every worker and wait until all are ready: when it returns, every slot's worker takes calls. A worker
        /// that cannot start is tried again (<see cref="WorkerPoolOptions.StartAttempts"/>); if it still cannot, the
        /// others are stopped and its error is thrown. The pool's events during the start (the first
        /// <see cref="WorkerReady"/> of each slot, <see cref="WorkerStartFailed"/>) go to nobody: to hear them, subscribe
        /// in <see cref="StartAsync(WorkerPoolOptions, Action{WorkerPool}, CancellationToken)"/>.
        /// </summary>
        public static Task<WorkerPool> StartAsync(WorkerPoolOptions options, CancellationToken cancellationToken = default(CancellationToken))
        {
            return StartAsync(options, null, cancellationToken);
        }

        /// <summary>
        /// Start every worker and wait until all are ready, as <see cref="StartAsync(WorkerPoolOptions, CancellationToken)"/>,
        /// calling <paramref name="subscribe"/> with the pool before its first worker starts: subscribe to its events
        /// there to hear every slot's first <see cref="WorkerReady"/> (<see cref="WorkerReadyEventArgs.IsRestart"/>
        /// false) and the start attempts that failed. Calls made from it wait in the queue until a worker is ready.
        /// An exception it throws fails the start, with nothing started.
        /// </summary>
        public static async Task<WorkerPool> StartAsync(WorkerPoolOptions options, Action<WorkerPool> subscribe,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (options == null) throw new ArgumentNullException("options");
            options.Validate();
            var pool = new WorkerPool(options.Clone());
            if (subscribe != null) subscribe(pool);
            var fills = pool._slots.Select(slot => pool._supervisor.FillFirstAsync(slot, cancellationToken)).ToList();
            try
            {
                await Task.WhenAll(fills).ConfigureAwait(false);
            }
            catch
            {
                await pool.StopAsync().ConfigureAwait(false);
                throw;
            }
            var monitor = new HealthMonitor(pool._slots, pool._dispatcher.Lock, options.HealthCheckInterval, options.PingTimeout,
                options.UnresponsiveLimit, (slot, worker) => Interlocked.Increment(ref pool._hungKilled));
            lock (pool._dispatcher.Lock)
            {
                for (int i = 0; i < pool._slots.Length; i++) pool._loops.Add(pool._supervisor.SuperviseAsync(pool._slots[i], fills[i].Result));
                pool._loops.Add(monitor.RunAsync(pool._stop.Token));
            }
            return pool;
        }

        /// <summary>
        /// A worker started (or restarted) and set up, now taking calls. Pool events are raised in order on the thread
        /// pool. A slot's first start is raised during StartAsync: subscribe in
        /// <see cref="StartAsync(WorkerPoolOptions, Action{WorkerPool}, CancellationToken)"/> to hear it.
        /// </summary>
        public event EventHandler<WorkerReadyEventArgs> WorkerReady;

        /// <summary>A worker ended (its exit code, reason and last stderr lines are in the args); its slot starts a replacement unless the pool is stopping. Raised on a background thread.</summary>
        public event EventHandler<WorkerExitedEventArgs> WorkerExited;

        /// <summary>
        /// An attempt to start a worker (during StartAsync: subscribe in its <c>subscribe</c> callback to hear it) or to
        /// start or set up a replacement failed; another follows after the back-off. Raised on a background thread.
        /// </summary>
        public event EventHandler<WorkerStartFailedEventArgs> WorkerStartFailed;

        /// <summary>A slot whose worker ended is about to start a replacement, after the back-off the args give. Raised on a background thread.</summary>
        public event EventHandler<WorkerRestartingEventArgs> WorkerRestarting;

        /// <summary>The workers taking calls now.</summary>
        public IReadOnlyList<WorkerProcess> Workers
        {
            get
            {
                lock (_dispatcher.Lock) return _slots.Where(s => s.TakesCalls).Select(s => s.Active).ToList();
            }
        }

        /// <summary>Counters: calls in flight and queued, their outcomes, restarts.</summary>
        public WorkerPoolStatistics Statistics
        {
            get
            {
                var statistics = new WorkerPoolStatistics();
                lock (_dispatcher.Lock)
                {
                    statistics.Workers = _slots.Length;
                    statistics.ReadyWorkers = _slots.Count(s => s.TakesCalls);
                    statistics.InFlight = _slots.Sum(s => s.InFlight);
                    _dispatcher.Fill(statistics);
                }
                statistics.Restarts = _supervisor.Restarts;
                statistics.FailedStarts = _supervisor.FailedStarts;
                statistics.HungWorkersKilled = Interlocked.Read(ref _hungKilled);
                return statistics;
            }
        }

        /// <inheritdoc />
        public Task<T> InvokeAsync<T>(Invocation<T> invocation, CancellationToken cancellationToken = default(CancellationToken))
        {
            // Not async: a call let into the queue at once returns its own task, with no state machine in between
            // (the pool's hot path). A refusal still comes back as a faulted or cancelled task, never as a throw.
            if (invocation == null) return Task.FromException<T>(new ArgumentNullException("invocation"));
            if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
            if (_dispatcher.Stopping) return Task.FromException<T>(new ObjectDisposedException("WorkerPool", CallDispatcher.StoppedMessage(invocation.Method)));
            var call = new PoolCall<T>(_dispatcher, invocation, invocation.Timeout ?? _options.CallTimeout, cancellationToken);
            var admitted = _dispatcher.AdmitAsync(call, _stop.Token);
            return admitted.Status == TaskStatus.RanToCompletion ? call.Task : AfterAdmissionAsync(admitted, call);
        }

        /// <summary>A call that waited for room in the queue, or was refused it.</summary>
        private static async Task<T> AfterAdmissionAsync<T>(Task admitted, PoolCall<T> call)
        {
            await admitted.ConfigureAwait(false);
            return await call.Task.ConfigureAwait(false);
        }

        /// <summary>
        /// Run <paramref name="setUp"/> on every active worker, and on every worker that joins later before
        /// it takes calls. Fails if it fails on a worker with an error of its own, or if it kills the workers
        /// it runs on twice over. With no active worker it waits for one (a replacement being started).
        /// However it ends without a result (an error, <paramref name="cancellationToken"/>, the pool
        /// stopping), it leaves nothing behind: no later worker runs it, and it is torn down on every worker
        /// it ran on, including one being set up when it ended (as soon as that run finishes).
        /// </summary>
        public async Task<IWorkerSetup<T>> SetUpAsync<T>(Invocation<T> setUp, Func<T, Invocation<object>> tearDown,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (setUp == null) throw new ArgumentNullException("setUp");
            if (_dispatcher.Stopping) throw new ObjectDisposedException("WorkerPool", CallDispatcher.StoppedMessage(setUp.Method));
            var setup = new WorkerSetup<T>(setUp, tearDown, s => _setups.Remove(s));
            _setups.Add(setup);
            try
            {
                await SetUpEverywhereAsync(setup, cancellationToken).ConfigureAwait(false);
                return setup;
            }
            catch
            {
                // Removed marks it so that a run still going on a replacement undoes itself when it ends.
                await setup.RemoveAsync().ConfigureAwait(false);
                throw;
            }
        }

        private async Task SetUpEverywhereAsync<T>(WorkerSetup<T> setup, CancellationToken cancellationToken)
        {
            IWorkerSetup untyped = setup;
            Exception lastCrash = null;
            int fruitlessRounds = 0;
            while (true)
            {
                List<WorkerProcess> pending;
                Task activation;
                lock (_dispatcher.Lock)
                {
                    pending = _slots.Where(s => s.Active != null && !untyped.HasRunOn(s.Active)).Select(s => s.Active).ToList();
                    activation = _setups.NextActivation;
                }
                if (pending.Count == 0)
                {
                    // Workers that become active from now on run it themselves first; unless a replacement
                    // being set up failed it meanwhile, which its caller must hear about.
                    if (setup.Workers.Count > 0)
                    {
                        if (untyped.TryConfirm()) return;
                        Rethrow(await untyped.Failure.ConfigureAwait(false));
                    }
                    await WaitForActivationAsync(activation, untyped, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                var runs = pending.Select(worker => untyped.RunOnAsync(worker, cancellationToken)).ToList();
                try
                {
                    await Task.WhenAll(runs).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    var errors = runs.Where(t => t.IsFaulted).Select(t => t.Exception.GetBaseException()).ToList();
                    var own = errors.FirstOrDefault(e => !(e is WorkerExitedException));
                    if (own != null) Rethrow(own);
                    if (runs.Any(t => t.IsCanceled)) throw new OperationCanceledException(cancellationToken);
                    lastCrash = errors[0];
                }
                if (setup.Workers.Count > 0) continue;
                // Every worker it ran on died: once may be bad luck, twice means the set-up kills workers.
                if (++fruitlessRounds >= 2) Rethrow(lastCrash);
            }
        }

        /// <summary>Wait for a worker to become active; throws when the set-up failed on one being set up, the caller cancelled, or the pool stopped.</summary>
        private async Task WaitForActivationAsync(Task activation, IWorkerSetup setup, CancellationToken cancellationToken)
        {
            // One linked source, unregistered when the wait ends: a Task.Delay per token would stay registered
            // on the caller's token and on the pool's for as long as they live, once per wait.
            using (var ended = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token))
            {
                var cancelled = Task.Delay(Timeout.Infinite, ended.Token);
                var first = await Task.WhenAny(activation, setup.Failure, cancelled).ConfigureAwait(false);
                ended.Cancel();
                if (first == activation) return;
                if (first == setup.Failure) Rethrow(setup.Failure.Result);
            }
            if (cancellationToken.IsCancellationRequested) throw new OperationCanceledException(cancellationToken);
            throw new ObjectDisposedException("WorkerPool", CallDispatcher.StoppedMessage(setup.Method));
        }

        private static void Rethrow(Exception error)
        {
            // The worker's own stack trace, not this one's.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }

        /// <summary>
        /// Events run one after another on the thread pool, never on a supervisor: a handler that blocks
        /// (or waits for the pool itself, say by disposing it) must not stall restarts or stopping.
        /// </summary>
        private void Raise<T>(Func<EventHandler<T>> handler, T args) where T : EventArgs
        {
            // The subscribers when it is raised, as with any .NET event: one added meanwhile gets only later events.
            var current = handler();
            lock (_eventsLock)
            {
                _events = _events.ContinueWith(_ =>
                {
                    try
                    {
                        if (current != null) current(this, args);
                    }
                    catch (Exception)
                    {
                        // A failing observer must not stop the events after it, nor surface later as unobserved.
                    }
                }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
    }
}
