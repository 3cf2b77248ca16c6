using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;

namespace HfWorker.Supervision
{
    /// <summary>
    /// The set-ups (loaded models) every worker of a pool must have before it takes calls. Guarded by
    /// the dispatcher's lock, so that "has every set-up" and "becomes active" happen as one step.
    /// </summary>
    internal sealed class SetupRegistry
    {
        private readonly object _lock;
        private readonly List<IWorkerSetup> _setups = new List<IWorkerSetup>();
        private TaskCompletionSource<bool> _activated = NewSignal();

        public SetupRegistry(object poolLock)
        {
            _lock = poolLock;
        }

        public void Add(IWorkerSetup setup)
        {
            lock (_lock) _setups.Add(setup);
        }

        public bool Remove(IWorkerSetup setup)
        {
            lock (_lock) return _setups.Remove(setup);
        }

        /// <summary>The set-ups <paramref name="worker"/> lacks. Call under the lock.</summary>
        public List<IWorkerSetup> MissingOn(WorkerProcess worker)
        {
            return _setups.Where(s => !s.HasRunOn(worker)).ToList();
        }

        public void ForgetWorker(WorkerProcess worker)
        {
            List<IWorkerSetup> setups;
            lock (_lock) setups = _setups.ToList();
            foreach (var setup in setups) setup.Forget(worker);
        }

        /// <summary>Completes at the next activation of a worker. Read under the lock.</summary>
        public Task NextActivation
        {
            get { return _activated.Task; }
        }

        /// <summary>A worker became active. Call under the lock.</summary>
        public void SignalActivation()
        {
            var signal = _activated;
            _activated = NewSignal();
            signal.TrySetResult(true);
        }

        private static TaskCompletionSource<bool> NewSignal()
        {
            return new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }
}
