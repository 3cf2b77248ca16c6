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
    }
}
