using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker
{
    /// <summary>
    /// State set up on every worker by <see cref="IWorkerInvoker.SetUpAsync{T}"/> (a loaded model, say), with each
    /// worker's own result (its model handle). <see cref="WorkerSetup{T}"/> is the library's; a fake invoker in a
    /// test implements this with one result for every worker.
    /// </summary>
    public interface IWorkerSetup<T>
    {
        /// <summary>The set-up call's method.</summary>
        string Method { get; }

        /// <summary>The workers this is set up on now (empty for a fake that has no workers).</summary>
        IReadOnlyCollection<WorkerProcess> Workers { get; }

        /// <summary>True once <see cref="RemoveAsync"/> was called.</summary>
        bool Removed { get; }

        /// <summary>The result on any one worker (results agree on everything but handles), or default if none.</summary>
        T AnyResult { get; }

        /// <summary>
        /// The set-up's result on <paramref name="worker"/>; throws <see cref="System.InvalidOperationException"/>
        /// when it has not run there, <see cref="System.ObjectDisposedException"/> once removed.
        /// </summary>
        T ResultOn(WorkerProcess worker);

        /// <summary>The set-up's result on <paramref name="worker"/>, if it ran there.</summary>
        bool TryGetResultOn(WorkerProcess worker, out T result);

        /// <summary>Stop setting this up on new workers and undo it on every worker that has it.</summary>
        Task RemoveAsync(CancellationToken cancellationToken = default(CancellationToken));
    }
}
