using System;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// The base of every exception this library throws on purpose, so one catch clause covers them.
    /// <code>
    /// HfWorkerException
    /// ├── WorkerRpcException          the worker answered the call with a JSON-RPC error (code, data)
    /// ├── WorkerExitedException       the worker process ended with the call unanswered
    /// │   └── WorkerCrashedException  ... and nobody asked it to (crash, kill, hang detected)
    /// ├── WorkerStartException        the worker did not start or did not say worker/ready in time
    /// ├── CallTimeoutException        a per-call timeout elapsed (the call was cancelled on the worker)
    /// ├── PoolOverloadedException     the pool's queue is full and the pool is set to refuse
    /// ├── ProtocolException           the worker sent bytes that break the protocol
    /// └── MessagePackException        bytes that are not valid MessagePack, or not the expected shape
    /// </code>
    /// Cancellation through a <see cref="System.Threading.CancellationToken"/> is reported the .NET way,
    /// with <see cref="OperationCanceledException"/>.
    /// </summary>
    public abstract class HfWorkerException : Exception
    {
        /// <summary>An exception with a message.</summary>
        protected HfWorkerException(string message) : base(message)
        {
        }

        /// <summary>An exception with a message and the exception that caused it.</summary>
        protected HfWorkerException(string message, Exception inner) : base(message, inner)
        {
        }
    }
}
