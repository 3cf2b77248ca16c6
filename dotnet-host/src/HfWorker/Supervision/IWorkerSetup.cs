using System;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Supervision
{
    /// <summary>A <see cref="WorkerSetup{T}"/> seen by the supervisor, without its result type.</summary>
    internal interface IWorkerSetup
    {
        string Method { get; }

        bool HasRunOn(WorkerProcess worker);

        Task RunOnAsync(WorkerProcess worker, CancellationToken cancellationToken);

        /// <summary>Drop a dead worker's result.</summary>
        void Forget(WorkerProcess worker);

        /// <summary>
        /// Running it on a fresh worker of a pool failed. True when that ends the set-up, not the worker: it
        /// was removed meanwhile, or it was never handed to its caller, who now gets <paramref name="error"/>
        /// through <see cref="Failure"/> (twice over when it keeps killing workers). False: the worker goes
        /// (it died, or an established set-up must hold on every worker that takes calls).
        /// </summary>
        bool FailedOnFreshWorker(Exception error, bool workerDied);

        /// <summary>Completes with the error that ended the set-up before it was handed to its caller.</summary>
        Task<Exception> Failure { get; }

        /// <summary>Hand it to its caller: from now on it must hold on every worker. False when a failure came first.</summary>
        bool TryConfirm();
    }
}
