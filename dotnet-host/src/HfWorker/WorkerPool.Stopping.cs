using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Supervision;

namespace HfWorker
{
    // How a pool stops: gracefully (StopAsync, DisposeAsync) or at once (Dispose).
#if HFWORKER_ASYNC_INTERFACES
    public sealed partial class WorkerPool : IAsyncDisposable
#else
    public sealed partial class WorkerPool
#endif
    {
        // Guarded by the dispatcher's lock: the stop under way stops its workers at once (Dispose), not gracefully.
        private bool _stoppingQuickly;

        /// <summary>
        /// Fail the calls still queued, stop supervising, and stop every worker gracefully (see
        /// <see cref="WorkerProcess.StopAsync"/>): calls in flight finish within the workers' grace period. Idempotent.
        /// </summary>
        public Task StopAsync()
        {
            return Stop(false);
        }

        /// <summary>
        /// Stop at once and return within about 3 seconds whatever the workers do: the calls still queued
        /// fail, every worker is stopped as <see cref="WorkerProcess.Dispose"/> stops one (no grace period,
        /// calls in flight cancelled, the process tree killed if still there 2 seconds later), all at the same
        /// time. Hurries a <see cref="StopAsync"/> already under way. Use <see cref="StopAsync"/> (or
        /// DisposeAsync, where the platform has <c>IAsyncDisposable</c>) to let calls in flight finish.
        /// </summary>
        public void Dispose()
        {
            var stopping = Stop(true);
            Protocol.RpcConnection.BeforeBlocking();
            try
            {
                stopping.Wait(WorkerProcess.DisposeKillAfter + WorkerProcess.DisposeSettleWait);
            }
            catch (AggregateException)
            {
                // Stopping never fails in a way the caller of Dispose could act on: every worker is gone either way.
            }
            // Only a thread pool too busy to run the stop gets here with workers alive: the kill must not wait for it.
            foreach (var worker in LiveWorkers())
            {
                if (!worker.HasExited) worker.KillWith(WorkerExitReason.Killed, "still running when the pool's Dispose gave up waiting", true);
            }
        }

#if HFWORKER_ASYNC_INTERFACES
        /// <summary>Stop gracefully, as <see cref="StopAsync"/>: calls in flight finish within the workers' grace period.</summary>
        public ValueTask DisposeAsync()
        {
            return new ValueTask(StopAsync());
        }
#endif

        private Task Stop(bool quickly)
        {
            Task stopping;
            List<WorkerProcess> hurry = null;
            lock (_dispatcher.Lock)
            {
                if (_stopping == null)
                {
                    _stoppingQuickly = quickly;
                    _stopping = Task.Run(() => StopCoreAsync());
                }
                else if (quickly && !_stoppingQuickly)
                {
                    // A graceful stop is under way: Dispose's bound holds all the same.
                    _stoppingQuickly = true;
                    hurry = LiveWorkersLocked();
                }
                stopping = _stopping;
            }
            if (hurry == null) return stopping;
            return Task.WhenAll(stopping, Task.WhenAll(hurry.Select(w => w.StopQuicklyAsync())));
        }

        private async Task StopCoreAsync()
        {
            var queued = _dispatcher.StopAndDrain();
            List<WorkerProcess> workers;
            bool quickly;
            lock (_dispatcher.Lock)
            {
                workers = LiveWorkersLocked();
                quickly = _stoppingQuickly;
            }
            // Cancels the starts under way too: a worker still starting is killed by its own start.
            _stop.Cancel();
            foreach (var call in queued) call.Fail(new ObjectDisposedException("WorkerPool", CallDispatcher.StoppedMessage(call.Method)));
            await Task.WhenAll(workers.Select(w => quickly ? w.StopQuicklyAsync() : w.StopAsync())).ConfigureAwait(false);
            Task[] loops;
            lock (_dispatcher.Lock) loops = _loops.ToArray();
            await Task.WhenAll(loops).ConfigureAwait(false);
        }

        private List<WorkerProcess> LiveWorkers()
        {
            lock (_dispatcher.Lock) return LiveWorkersLocked();
        }

        /// <summary>The workers taking calls or being set up. Call under the dispatcher's lock.</summary>
        private List<WorkerProcess> LiveWorkersLocked()
        {
            return _slots.SelectMany(s => new[] { s.Active, s.SettingUp }).Where(w => w != null).ToList();
        }
    }
}
