using System;
using HfWorker.MessagePack;

namespace HfWorker
{
    /// <summary>Turns a call's <c>result</c> into a .NET value, reading it straight from the response frame.</summary>
    public delegate T ResultReader<T>(MessagePackReader reader);

    /// <summary>
    /// One call to make: the method, its params, how to read the result, and how the call should
    /// behave (progress, timeout, retry). Pass it to <see cref="IWorkerInvoker.InvokeAsync{T}"/>; the
    /// extension methods in <see cref="WorkerInvokerExtensions"/> build simple ones for you.
    /// </summary>
    public sealed class Invocation<T>
    {
        /// <summary>
        /// A call of <paramref name="method"/>. <paramref name="parameters"/> is anything
        /// <see cref="MessagePackWriter.WriteValue"/> accepts that is a map: a dictionary or an
        /// <see cref="IMessagePackWritable"/> writing a map; null sends no params.
        /// </summary>
        public Invocation(string method, object parameters, ResultReader<T> readResult)
        {
            if (string.IsNullOrEmpty(method)) throw new ArgumentException("a method name is required", "method");
            if (readResult == null) throw new ArgumentNullException("readResult");
            Method = method;
            ParametersFor = _ => parameters;
            ReadResultOn = (reader, worker) => readResult(reader);
        }

        internal Invocation(string method, Func<WorkerProcess, object> parametersFor, Func<MessagePackReader, WorkerProcess, T> readResultOn)
        {
            Method = method;
            ParametersFor = parametersFor;
            ReadResultOn = readResultOn;
        }

        /// <summary>The JSON-RPC method.</summary>
        public string Method { get; private set; }

        /// <summary>
        /// Receives each <c>$/progress</c> value the worker sends for this call, as plain .NET values
        /// (see <see cref="MessagePackReader.ReadValue"/>). Setting it adds a <c>progressToken</c> to
        /// the params. <see cref="Progress{T}"/> posts to the captured context, so its reports may run
        /// after the call's task completes; use a synchronous <see cref="IProgress{T}"/> for strict order.
        /// </summary>
        public IProgress<object> Progress { get; set; }

        /// <summary>
        /// How long to wait for the answer before cancelling the call on the worker and failing it with
        /// <see cref="Exceptions.CallTimeoutException"/>. Null (the default) uses the worker's or pool's
        /// default call timeout; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> waits forever.
        /// </summary>
        public TimeSpan? Timeout { get; set; }

        /// <summary>
        /// True when running the call twice does no harm (embedding a text, say). A pool then retries it
        /// once on another worker when its worker dies with the call in flight, instead of failing it
        /// with <see cref="Exceptions.WorkerCrashedException"/>. Default false.
        /// </summary>
        public bool SafeToRetry { get; set; }

        /// <summary>Params per target worker: handles differ between workers of a pool.</summary>
        internal Func<WorkerProcess, object> ParametersFor { get; private set; }

        /// <summary>Result reading that knows which worker answered (results holding tensor handles belong to it).</summary>
        internal Func<MessagePackReader, WorkerProcess, T> ReadResultOn { get; private set; }

        /// <summary>Progress read from the frame without building objects; called on the connection's reader.</summary>
        internal Action<MessagePackReader> ProgressReader { get; set; }

        /// <summary>The worker that must run this call (it owns a handle in the params), or null for any.</summary>
        internal WorkerProcess Affinity { get; set; }

        internal Invocation<T> WithoutTimeout()
        {
            var copy = (Invocation<T>)MemberwiseClone();
            copy.Timeout = System.Threading.Timeout.InfiniteTimeSpan;
            return copy;
        }
    }
}
