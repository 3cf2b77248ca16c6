using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Supervision
{
    /// <summary>
    /// Keeps each slot of a pool filled: starts a worker, runs the registered set-ups on it, makes it
    /// active, waits for it to end, and starts the next one after the back-off. One loop per slot.
    /// </summary>
    internal sealed class SlotSupervisor
    {
        private readonly WorkerPoolOptions _options;
        private readonly WorkerProcessOptions _workerOptions;
        private readonly CallDispatcher _dispatcher;
        private readonly SetupRegistry _setups;
        private readonly CancellationToken _stop;
        private long _restarts;
        private long _failedStarts;

        public SlotSupervisor(WorkerPoolOptions options, CallDispatcher dispatcher, SetupRegistry setups, CancellationToken stop)
        {
            _options = options;
            _workerOptions = options.WorkerOptionsForPool();
            _dispatcher = dispatcher;
            _setups = setups;
            _stop = stop;
            Ready = _ => { };
            Exited = _ => { };
            StartFailed = _ => { };
            Restarting = _ => { };
        }

        public Action<WorkerReadyEventArgs> Ready { get; set; }

        public Action<WorkerExitedEventArgs> Exited { get; set; }

        public Action<WorkerStartFailedEventArgs> StartFailed { get; set; }

        public Action<WorkerRestartingEventArgs> Restarting { get; set; }

        public long Restarts
        {
            get { return Interlocked.Read(ref _restarts); }
        }

        public long FailedStarts
        {
            get { return Interlocked.Read(ref _failedStarts); }
        }

        /// <summary>Start a worker for the slot, set it up and make it active. Throws if it cannot.</summary>
        public async Task<WorkerProcess> FillAsync(WorkerSlot slot, bool isRestart, CancellationToken cancellationToken)
        {
            var worker = await WorkerProcess.StartInSlotAsync(_workerOptions, slot.Index, cancellationToken).ConfigureAwait(false);
            try
            {
                lock (_dispatcher.Lock) slot.SettingUp = worker;
                while (true)
                {
                    List<IWorkerSetup> missing;
                    lock (_dispatcher.Lock)
                    {
                        if (_dispatcher.Stopping) throw new OperationCanceledException("the pool is stopping");
                        missing = _setups.MissingOn(worker);
                        if (missing.Count == 0)
                        {
                            slot.SettingUp = null;
                            slot.Active = worker;
                            _setups.SignalActivation();
                            break;
                        }
                    }
                    // One at a time: loading several models at once on a fresh worker only competes for memory.
                    foreach (var setup in missing) await RunSetUpAsync(setup, worker, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                lock (_dispatcher.Lock)
                {
                    if (slot.SettingUp == worker) slot.SettingUp = null;
                }
                worker.KillWith(WorkerExitReason.Killed, _stop.IsCancellationRequested || e is OperationCanceledException
                    ? "the pool stopped while the worker was being set up"
                    : "the pool: a set-up failed on it (" + e.GetType().Name + ": " + e.Message + ")");
                _setups.ForgetWorker(worker);
                throw;
            }
            Raise(Ready, new WorkerReadyEventArgs(worker, slot.Index, isRestart));
            _dispatcher.Pump();
            return worker;
        }

        /// <summary>
        /// Run one registered set-up on a worker being set up. When the failure is the set-up's own (removed by
        /// its caller meanwhile, or failing before it ever held anywhere: its caller gets the error), the set-up
        /// goes, not the worker; otherwise the worker goes and the slot tries again with a new one.
        /// </summary>
        private async Task RunSetUpAsync(IWorkerSetup setup, WorkerProcess worker, CancellationToken cancellationToken)
        {
            try
            {
                await setup.RunOnAsync(worker, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                if (!setup.FailedOnFreshWorker(e, e is Exceptions.WorkerExitedException || worker.IsEnding)) throw;
                // Not registered any more, so no later worker runs it either.
                _setups.Remove(setup);
            }
        }

        /// <summary>The first fill of a slot, at the pool's start: up to <see cref="WorkerPoolOptions.StartAttempts"/> tries.</summary>
        public async Task<WorkerProcess> FillFirstAsync(WorkerSlot slot, CancellationToken cancellationToken)
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    return await FillAsync(slot, false, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (attempt < _options.StartAttempts && !(e is OperationCanceledException) && !IsPermanent(e))
                {
                    var delay = RestartBackoff.Delay(attempt + 1, _options.RestartBackoffInitial, _options.RestartBackoffMax);
                    Interlocked.Increment(ref _failedStarts);
                    Raise(StartFailed, new WorkerStartFailedEventArgs(slot.Index, e, delay));
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        /// <summary>Watch the slot's worker; when it ends, refill the slot until the pool stops.</summary>
        public async Task SuperviseAsync(WorkerSlot slot, WorkerProcess worker)
        {
            while (true)
            {
                var info = await worker.WaitForExitAsync().ConfigureAwait(false);
                lock (_dispatcher.Lock)
                {
                    if (slot.Active == worker) slot.Active = null;
                    slot.ConsecutiveFailures = info.Uptime >= _options.RestartBackoffResetAfter ? 1 : slot.ConsecutiveFailures + 1;
                }
                _setups.ForgetWorker(worker);
                Raise(Exited, new WorkerExitedEventArgs(worker, info, slot.Index));
                // Calls pinned to the dead worker fail now instead of waiting for it.
                _dispatcher.Pump();
                worker = await RefillAsync(slot, info.ProcessId).ConfigureAwait(false);
                if (worker == null) return;
            }
        }

        /// <summary>A setting that can never work (no interpreter): trying again only delays the error.</summary>
        private static bool IsPermanent(Exception error)
        {
            var start = error as Exceptions.WorkerStartException;
            return start != null && start.Permanent;
        }

        private async Task<WorkerProcess> RefillAsync(WorkerSlot slot, int endedProcessId)
        {
            // Slot events (not one worker's): to the application's callback, tagged with the slot.
            var events = new Diagnostics.HostEvents(_workerOptions.OnHostEvent, null) { Slot = slot.Index };
            while (!_stop.IsCancellationRequested)
            {
                int failures;
                lock (_dispatcher.Lock) failures = slot.ConsecutiveFailures;
                try
                {
                    var delay = RestartBackoff.Delay(failures, _options.RestartBackoffInitial, _options.RestartBackoffMax);
                    events.Emit(Diagnostics.HostEventKind.Restarting, Diagnostics.HostEventLevel.Warning, endedProcessId,
                        "slot " + slot.Index + " replaces worker " + endedProcessId + " in " + Exceptions.CallTimeoutException.Format(delay)
                        + " (" + failures + " failure" + (failures == 1 ? "" : "s") + " in a row)");
                    Raise(Restarting, new WorkerRestartingEventArgs(slot.Index, failures, delay));
                    await Task.Delay(delay, _stop).ConfigureAwait(false);
                    // Every attempt counts: a replacement killed while it loads its models was a restart too.
                    Interlocked.Increment(ref _restarts);
                    return await FillAsync(slot, true, _stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return null;
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref _failedStarts);
                    lock (_dispatcher.Lock) failures = ++slot.ConsecutiveFailures;
                    Raise(StartFailed, new WorkerStartFailedEventArgs(slot.Index, e,
                        RestartBackoff.Delay(failures, _options.RestartBackoffInitial, _options.RestartBackoffMax)));
                }
            }
            return null;
        }

        private static void Raise<T>(Action<T> handler, T args)
        {
            try
            {
                handler(args);
            }
            catch (Exception)
            {
                // An observer's failure must not stop supervision.
            }
        }
    }
}
