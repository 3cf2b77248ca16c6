using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker
{
    /// <summary>
    /// State set up on every worker by <see cref="IWorkerInvoker.SetUpAsync{T}"/> (a loaded model, say),
    /// with each worker's own result (its model handle). A pool runs the set-up again on every worker
    /// that replaces a dead one, before that worker takes calls.
    /// </summary>
    public sealed class WorkerSetup<T> : IWorkerSetup<T>, Supervision.IWorkerSetup
    {
        private readonly ConcurrentDictionary<WorkerProcess, T> _results = new ConcurrentDictionary<WorkerProcess, T>();
        private readonly Invocation<T> _setUp;
        private readonly Func<T, Invocation<object>> _tearDown;
        private readonly Func<WorkerSetup<T>, bool> _unregister;
        private readonly TaskCompletionSource<Exception> _failure = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _removed;
        private int _state;
        private int _freshWorkersKilled;

        // _state: a pool's set-up is pending until SetUpAsync hands it to its caller, then confirmed; a failure
        // on a fresh worker while it is pending ends it instead (failed), and SetUpAsync throws that failure.
        private const int Pending = 0;
        private const int Confirmed = 1;
        private const int Failed = 2;

        internal WorkerSetup(Invocation<T> setUp, Func<T, Invocation<object>> tearDown, Func<WorkerSetup<T>, bool> unregister)
        {
            _setUp = setUp;
            _tearDown = tearDown;
            _unregister = unregister;
        }

        /// <summary>The set-up call's method.</summary>
        public string Method
        {
            get { return _setUp.Method; }
        }

        /// <summary>The workers this is set up on now.</summary>
        public IReadOnlyCollection<WorkerProcess> Workers
        {
            get { return _results.Keys.ToList(); }
        }

        /// <summary>True once <see cref="RemoveAsync"/> was called.</summary>
        public bool Removed
        {
            get { return Volatile.Read(ref _removed) != 0; }
        }

        /// <summary>The set-up's result on <paramref name="worker"/>.</summary>
        public T ResultOn(WorkerProcess worker)
        {
            T result;
            if (TryGetResultOn(worker, out result)) return result;
            if (Removed) throw new ObjectDisposedException(Method + " set-up", "this set-up was removed");
            throw new InvalidOperationException(
                Method + " has not been set up on worker process " + (worker == null ? "(none)" : worker.ProcessId.ToString())
                + (worker != null && worker.HasExited ? ", which has exited" : ""));
        }

        /// <summary>The set-up's result on <paramref name="worker"/>, if it ran there.</summary>
        public bool TryGetResultOn(WorkerProcess worker, out T result)
        {
            if (worker == null)
            {
                result = default(T);
                return false;
            }
            return _results.TryGetValue(worker, out result);
        }

        /// <summary>The result on any one worker (results agree on everything but handles), or default if none.</summary>
        public T AnyResult
        {
            get
            {
                foreach (var pair in _results) return pair.Value;
                return default(T);
            }
        }

        /// <summary>
        /// Stop setting this up on new workers and undo it on every worker that has it. Workers that
        /// fail to tear it down are ignored: a dead worker took its state with it.
        /// </summary>
        public async Task RemoveAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            if (Interlocked.Exchange(ref _removed, 1) != 0) return;
            _unregister(this);
            var tasks = new List<Task>();
            foreach (var pair in _results.ToList())
            {
                T ignored;
                _results.TryRemove(pair.Key, out ignored);
                if (_tearDown == null || pair.Key.HasExited) continue;
                tasks.Add(TearDownQuietly(pair.Key, pair.Value, cancellationToken));
            }
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }

        private async Task TearDownQuietly(WorkerProcess worker, T result, CancellationToken cancellationToken)
        {
            try
            {
                await worker.InvokeAsync(_tearDown(result), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The worker died or the state was already gone: either way nothing is left to undo.
            }
        }

        // ---- Supervision.IWorkerSetup -------------------------------------------------------------

        string Supervision.IWorkerSetup.Method
        {
            get { return Method; }
        }

        bool Supervision.IWorkerSetup.HasRunOn(WorkerProcess worker)
        {
            return _results.ContainsKey(worker);
        }

        async Task Supervision.IWorkerSetup.RunOnAsync(WorkerProcess worker, CancellationToken cancellationToken)
        {
            T result = await worker.InvokeAsync(_setUp, cancellationToken).ConfigureAwait(false);
            _results[worker] = result;
            if (Removed)
            {
                // Removed while this ran: undo it here too rather than leak it.
                T ignored;
                if (_results.TryRemove(worker, out ignored) && _tearDown != null) await TearDownQuietly(worker, result, CancellationToken.None).ConfigureAwait(false);
            }
        }

        void Supervision.IWorkerSetup.Forget(WorkerProcess worker)
        {
            T ignored;
            _results.TryRemove(worker, out ignored);
        }

        bool Supervision.IWorkerSetup.FailedOnFreshWorker(Exception error, bool workerDied)
        {
            // Nobody wants it any more: whatever happened, the worker is no worse for it, unless it died.
            if (Removed) return !workerDied;
            if (workerDied)
            {
                // Once may be bad luck; twice means the set-up kills workers (as SetUpAsync judges its own runs).
                if (Volatile.Read(ref _state) == Pending && Interlocked.Increment(ref _freshWorkersKilled) >= 2) Fail(error);
                return false;
            }
            return Fail(error);
        }

        Task<Exception> Supervision.IWorkerSetup.Failure
        {
            get { return _failure.Task; }
        }

        bool Supervision.IWorkerSetup.TryConfirm()
        {
            return Interlocked.CompareExchange(ref _state, Confirmed, Pending) != Failed;
        }

        private bool Fail(Exception error)
        {
            if (Interlocked.CompareExchange(ref _state, Failed, Pending) != Pending) return false;
            _failure.TrySetResult(error);
            return true;
        }
    }
}
