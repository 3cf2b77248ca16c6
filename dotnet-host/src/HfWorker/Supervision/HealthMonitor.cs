using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Utils;

namespace HfWorker.Supervision
{
    /// <summary>
    /// Liveness for a pool: every interval, each worker (taking calls or being set up) gets a
    /// <c>worker/ping</c>; one that does not answer within the deadline is hung and is killed, which
    /// fails its calls and makes its slot start a replacement. The worker answers ping on its reader
    /// thread, so only a frozen process (a C extension holding the GIL, a deadlock) misses it.
    /// </summary>
    internal sealed class HealthMonitor
    {
        private readonly IReadOnlyList<WorkerSlot> _slots;
        private readonly object _lock;
        private readonly TimeSpan _interval;
        private readonly TimeSpan _deadline;
        private readonly Action<WorkerSlot, WorkerProcess> _onHung;

        public HealthMonitor(IReadOnlyList<WorkerSlot> slots, object poolLock, TimeSpan interval, TimeSpan deadline,
            Action<WorkerSlot, WorkerProcess> onHung)
        {
            _slots = slots;
            _lock = poolLock;
            _interval = interval;
            _deadline = deadline;
            _onHung = onHung;
        }

        public async Task RunAsync(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(_interval, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                foreach (var slot in _slots)
                {
                    WorkerProcess worker;
                    lock (_lock)
                    {
                        worker = slot.Active ?? slot.SettingUp;
                        // One already ending (killed, crashed, stopping) is its supervisor's business: a ping
                        // to it would time out and count it as hung a second time.
                        if (worker == null || worker.IsEnding || slot.Pinging) continue;
                        slot.Pinging = true;
                    }
                    CheckAsync(slot, worker, stop).Forget();
                }
            }
        }

        private async Task CheckAsync(WorkerSlot slot, WorkerProcess worker, CancellationToken stop)
        {
            try
            {
                await worker.PingAsync(_deadline, stop).ConfigureAwait(false);
            }
            catch (CallTimeoutException) when (!worker.IsEnding && !stop.IsCancellationRequested)
            {
                // Counted first: the kill fails the worker's calls, and their callers may read the count.
                _onHung(slot, worker);
                worker.KillWith(WorkerExitReason.Unresponsive, "no answer to worker/ping within " + CallTimeoutException.Format(_deadline));
            }
            catch (Exception)
            {
                // Exited meanwhile, or the pool is stopping: the slot's supervisor deals with exits.
            }
            finally
            {
                lock (_lock) slot.Pinging = false;
            }
        }
    }
}
