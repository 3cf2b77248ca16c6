using HfWorker.Models;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// A call that names a kept tensor (a search's corpus, a tensor to read or to run a model on) whose worker has
    /// ended: the tensor ended with it, so the call could not run, or could not finish, anywhere. Keep the tensor
    /// again (<see cref="HfModels.EmbedAndKeepAsync"/>, <see cref="HfModels.PutTensorAsync(float[], int[], System.Threading.CancellationToken)"/>)
    /// on a live worker. A <see cref="WorkerCrashedException"/>, so code that already handles a dead worker still does.
    /// </summary>
    public sealed class TensorLostException : WorkerCrashedException
    {
        internal TensorLostException(TensorHandle tensor, string role, string method, WorkerExitInfo exitInfo)
            : base(exitInfo, method, Compose(tensor, role, method, exitInfo))
        {
            Tensor = tensor;
        }

        /// <summary>The tensor that was lost with its worker.</summary>
        public TensorHandle Tensor { get; private set; }

        private static string Compose(TensorHandle tensor, string role, string method, WorkerExitInfo exitInfo)
        {
            return method + ": the " + role + " (tensor " + tensor.Id + ") was kept in a worker that has ended, and ended with it;"
                + " keep it again on a live worker. " + exitInfo.Describe();
        }
    }
}
