using System;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker
{
    /// <summary>
    /// What a <see cref="WorkerProcess"/> and a <see cref="WorkerPool"/> have in common: make calls, and
    /// set up state (a loaded model) that every worker serving the calls must have. Write application code
    /// against this (or against <see cref="IHfModels"/>) to test it with a fake that starts no Python.
    /// </summary>
    public interface IWorkerInvoker
    {
        /// <summary>
        /// Send one call and read its result. Cancelling <paramref name="cancellationToken"/> sends
        /// <c>$/cancelRequest</c> and ends the task as cancelled at once. Never throws: every failure, argument
        /// errors included (a null invocation, an <see cref="Invocation{T}.Affinity"/> to another worker, a request
        /// over the frame limit), comes back as the returned task's exception, from a worker and a pool alike.
        /// </summary>
        Task<T> InvokeAsync<T>(Invocation<T> invocation, CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>
        /// Run <paramref name="setUp"/> on every worker now, and on every worker that replaces one later,
        /// before it takes any call (a pool loads its models again on a restarted worker this way).
        /// <paramref name="tearDown"/> builds the call that undoes it on a worker, given that worker's
        /// result; it runs when the returned set-up is removed.
        /// </summary>
        /// <remarks>A fake invoker (application code tested without Python) returns its own
        /// <see cref="IWorkerSetup{T}"/>, typically one result for every worker.</remarks>
        Task<IWorkerSetup<T>> SetUpAsync<T>(Invocation<T> setUp, Func<T, Invocation<object>> tearDown,
            CancellationToken cancellationToken = default(CancellationToken));
    }
}
