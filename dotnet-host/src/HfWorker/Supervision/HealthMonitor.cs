using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Diagnostics;
using HfWorker.Exceptions;
using HfWorker.Utils;

namespace HfWorker.Supervision
{
    /// <summary>
    /// Liveness for a pool: every interval, each worker (taking calls or being set up) gets a <c>worker/ping</c>.
    /// The worker answers ping on its reader thread, so only a process none of whose Python threads can run misses
    /// the deadline; that is either a hung worker (stopped, deadlocked, blocked in a system call) or a busy one (a
    /// call in a C extension that keeps the GIL while it computes). The two look the same on the wire; the CPU time
    /// tells them apart.
    /// </summary>
    /// <remarks>
    /// When a ping misses its deadline: a worker with work (calls in flight besides the ping, or abandoned calls
    /// whose work still runs) whose CPU time grew meanwhile is busy. It is left alone, reported once per spell as
    /// <see cref="HostEventKind.Busy"/>, and the same ping is waited for again, a deadline at a time, each judged
    /// the same way. Any other worker is hung and is killed (<see cref="WorkerExitReason.Unresponsive"/>), which
    /// fails its calls (the pool does not retry them) and makes its slot start a replacement; so is a busy one still
    /// not answering after the unresponsive limit. Where the CPU time cannot be read, a worker that misses a ping is
    /// hung, as it was before CPU time was looked at.
    /// </remarks>
    internal sealed class HealthMonitor
    {
        private readonly IReadOnlyList<WorkerSlot> _slots;
        private readonly object _lock;
        private readonly TimeSpan _interval;
        private readonly TimeSpan _deadline;
        private readonly TimeSpan _unresponsiveLimit;
        private readonly Action<WorkerSlot, WorkerProcess> _onHung;

        public HealthMonitor(IReadOnlyList<WorkerSlot> slots, object poolLock, TimeSpan interval, TimeSpan deadline,
            TimeSpan unresponsiveLimit, Action<WorkerSlot, WorkerProcess> onHung)
        {
            _slots = slots;
            _lock = poolLock;
            _interval = interval;
            _deadline = deadline;
            _unresponsiveLimit = unresponsiveLimit;
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
                        // to it would time out and count it as hung a second time. One still being watched (a
                        // busy spell) gets no second ping.
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
                await WatchAsync(slot, worker, stop).ConfigureAwait(false);
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

        private async Task WatchAsync(WorkerSlot slot, WorkerProcess worker, CancellationToken stop)
        {
            // The ping has no deadline of its own: a worker that misses one may be busy, and then this same ping is
            // waited for again. A kill (which fails it) or the pool's stop (which cancels it) ends it unanswered.
            var ping = worker.PingAsync(Timeout.InfiniteTimeSpan, stop);
            ping.Forget();
            var unanswered = Stopwatch.StartNew();
            var window = Stopwatch.StartNew();
            var cpu = ProcessorTime.Of(worker.ProcessId);
            bool busy = false;
            while (!await ping.EndsWithin(_deadline).ConfigureAwait(false))
            {
                if (worker.IsEnding || stop.IsCancellationRequested) return;
                var now = ProcessorTime.Of(worker.ProcessId);
                string hung = null;
                if (!HasWork(worker) || !ProcessorTime.Advanced(cpu, now, window.Elapsed))
                {
                    hung = "no answer to worker/ping within " + CallTimeoutException.Format(_deadline) + " and "
                        + (!HasWork(worker) ? "no call in flight" : now.HasValue ? "no CPU time used meanwhile" : "its CPU time cannot be read")
                        + (busy ? ", after " + CallTimeoutException.Format(unanswered.Elapsed) + " busy" : "");
                }
                else if (_unresponsiveLimit != Timeout.InfiniteTimeSpan && unanswered.Elapsed >= _unresponsiveLimit)
                {
                    hung = "no answer to worker/ping for " + CallTimeoutException.Format(unanswered.Elapsed)
                        + " while busy, past the unresponsive limit of " + CallTimeoutException.Format(_unresponsiveLimit);
                }
                if (hung != null)
                {
                    // Counted first: the kill fails the worker's calls, and their callers may read the count.
                    _onHung(slot, worker);
                    worker.KillWith(WorkerExitReason.Unresponsive, hung);
                    return;
                }
                if (!busy)
                {
                    busy = true;
                    worker.Events.Emit(HostEventKind.Busy, HostEventLevel.Warning, worker.ProcessId,
                        "worker " + worker.ProcessId + " did not answer worker/ping within " + CallTimeoutException.Format(_deadline)
                        + " but is using CPU with " + Calls(worker) + " in flight: busy, not hung (a call holding the GIL?); left alone "
                        + (_unresponsiveLimit == Timeout.InfiniteTimeSpan ? "while it stays busy" : "for up to " + CallTimeoutException.Format(_unresponsiveLimit))
                        + " (UnresponsiveLimit)");
                }
                cpu = now;
                window.Restart();
            }
            await ping.ConfigureAwait(false);
            if (busy)
            {
                worker.Events.Emit(HostEventKind.Busy, HostEventLevel.Information, worker.ProcessId,
                    "worker " + worker.ProcessId + " answered worker/ping again after " + CallTimeoutException.Format(unanswered.Elapsed));
            }
        }

        /// <summary>Calls the worker is running, all in flight but the health ping itself.</summary>
        private static int CallsInFlight(WorkerProcess worker)
        {
            return worker.InFlight - 1;
        }

        /// <summary>Calls running, or work a cancel or a timeout left running (<see cref="WorkerProcess.AbandonedCalls"/>).</summary>
        private static bool HasWork(WorkerProcess worker)
        {
            return CallsInFlight(worker) > 0 || worker.AbandonedCalls > 0;
        }

        private static string Calls(WorkerProcess worker)
        {
            int count = CallsInFlight(worker), abandoned = worker.AbandonedCalls;
            return (count == 1 ? "1 call" : count + " calls") + (abandoned > 0 ? " (" + abandoned + " abandoned)" : "");
        }
    }
}
