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

        /// <summary>
        /// A call whose params depend on the worker that runs it (handles differ between the workers of a pool:
        /// <paramref name="parametersFor"/> gets the worker, e.g. to look up its handle with
        /// <see cref="IWorkerSetup{T}.ResultOn"/>), and whose result reader learns which worker answered (a
        /// result naming a handle belongs to that worker: pin later calls to it with <see cref="Affinity"/>).
        /// A fake invoker with no workers passes null.
        /// </summary>
        public Invocation(string method, Func<WorkerProcess, object> parametersFor, Func<MessagePackReader, WorkerProcess, T> readResultOn)
        {
            if (string.IsNullOrEmpty(method)) throw new ArgumentException("a method name is required", "method");
            if (parametersFor == null) throw new ArgumentNullException("parametersFor");
            if (readResultOn == null) throw new ArgumentNullException("readResultOn");
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
        /// True when running the call twice does no harm (embedding a text, say). A <see cref="WorkerPool"/> then
        /// runs it once more, on another worker, when its worker crashed, exited or was killed with
        /// <see cref="WorkerProcess.Kill"/> while the call ran, instead of failing it with
        /// <see cref="Exceptions.WorkerCrashedException"/>. Never when the pool killed the worker as hung
        /// (<see cref="WorkerExitReason.Unresponsive"/>) or after a protocol error: the call may be what caused
        /// it, and would take a second worker down with it. Never for a call pinned to a worker
        /// (<see cref="Affinity"/>), one cancelled or timed out, or while the pool stops. A
        /// <see cref="WorkerProcess"/> never retries. Default false, for an <c>Invocation</c> you build: the pool
        /// cannot know what your method does twice. <see cref="HfModels"/> marks its <c>model/run</c> calls
        /// (embed, classify, generate, transcribe...) and <c>tensor/put</c> true, as pure functions of their
        /// inputs, except a generation that streams its pieces (those already delivered cannot be taken back).
        /// </summary>
        public bool SafeToRetry { get; set; }

        /// <summary>
        /// The params to send to <paramref name="worker"/> (null for a fake invoker with no workers): an invoker
        /// calls this once it knows where the call runs.
        /// </summary>
        public object ParametersOn(WorkerProcess worker)
        {
            return ParametersFor(worker);
        }

        /// <summary>
        /// Read the result from <paramref name="reader"/> as <paramref name="worker"/> answered it: what an invoker
        /// does with the response's <c>result</c> (a fake invoker writes a result with <see cref="MessagePackWriter"/>
        /// and reads it back here, so the typed layer above it runs unchanged).
        /// </summary>
        public T ReadResult(MessagePackReader reader, WorkerProcess worker)
        {
            if (reader == null) throw new ArgumentNullException("reader");
            return ReadResultOn(reader, worker);
        }

        /// <summary>True when someone listens for this call's progress: the invoker then asks for it (<c>progressToken</c>).</summary>
        public bool WantsProgress
        {
            get { return Progress != null || ProgressReader != null; }
        }

        /// <summary>
        /// Deliver one <c>$/progress</c> value (MessagePack-encoded, as <see cref="MessagePackWriter.WrittenBytes"/>
        /// gives it) to whoever listens for this call's progress: <see cref="Progress"/>, and the typed layer's
        /// own reader (the pieces of a streamed generation, say). What the worker does on its reader thread as each
        /// notification arrives; a fake invoker calls it to stream.
        /// </summary>
        public void ReportProgress(ArraySegment<byte> value)
        {
            if (ProgressReader != null) ProgressReader(new MessagePackReader(value));
            if (Progress != null) Progress.Report(new MessagePackReader(value).ReadValue());
        }

        /// <summary>Params per target worker: handles differ between workers of a pool.</summary>
        internal Func<WorkerProcess, object> ParametersFor { get; private set; }

        /// <summary>Result reading that knows which worker answered (results holding tensor handles belong to it).</summary>
        internal Func<MessagePackReader, WorkerProcess, T> ReadResultOn { get; private set; }

        /// <summary>Progress read from the frame without building objects; called on the connection's reader.</summary>
        internal Action<MessagePackReader> ProgressReader { get; set; }

        /// <summary>
        /// The worker that must run this call, because its params name a handle that lives only there (a tensor
        /// kept by <c>tensor/put</c> or <c>model/run</c> with <c>keep</c>: <see cref="Models.TensorHandle.Worker"/>;
        /// a handle read by a reader that was told the worker, see the per-worker constructor). Default null:
        /// any worker. Through a <see cref="WorkerPool"/> a pinned call waits for that worker (however many
        /// others are idle), is never retried elsewhere, and fails with <see cref="Exceptions.WorkerCrashedException"/>
        /// once the worker has exited, or <see cref="ArgumentException"/> if it is not one of the pool's; a
        /// <see cref="WorkerProcess"/> refuses a call pinned to another worker with <see cref="ArgumentException"/>.
        /// </summary>
        public WorkerProcess Affinity { get; set; }

        internal Invocation<T> WithTimeout(TimeSpan timeout)
        {
            var copy = (Invocation<T>)MemberwiseClone();
            copy.Timeout = timeout;
            return copy;
        }
    }
}
