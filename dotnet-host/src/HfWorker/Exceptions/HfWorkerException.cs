using System;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// The base of every exception this library throws on purpose, so one catch clause covers them.
    /// <code>
    /// HfWorkerException
    /// ├── WorkerRpcException          the worker answered the call with a JSON-RPC error (code, data), a stop's
    /// │                               -32800 "worker is shutting down" included
    /// ├── WorkerExitedException       the worker process ended with the call unanswered
    /// │   └── WorkerCrashedException  ... and not by a stop alone (a crash, WorkerProcess.Kill, a hang detected,
    /// │       │                       a stop that ended in a kill, a protocol error)
    /// │       └── TensorLostException the call named a tensor kept by a worker that has ended
    /// ├── WorkerStartException        the worker did not start or did not say worker/ready in time
    /// ├── CallTimeoutException        a per-call timeout elapsed (the call was cancelled on the worker)
    /// ├── PoolOverloadedException     the pool's queue is full and the pool is set to refuse
    /// ├── ProtocolException           a notification over the frame limit; the worker's bytes breaking the protocol
    /// ├── MessagePackException        bytes that are not valid MessagePack, or not the expected shape
    /// └── EnvironmentException        a worker environment could not be provisioned (uv's or pip's message)
    /// </code>
    /// Cancellation through a <see cref="System.Threading.CancellationToken"/> is reported the .NET way,
    /// with <see cref="OperationCanceledException"/>; argument errors (a request over the frame limit included)
    /// with <see cref="ArgumentException"/>, as the task's exception.
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
