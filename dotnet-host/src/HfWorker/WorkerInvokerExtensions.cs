using System;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker
{
    /// <summary>Short forms of <see cref="IWorkerInvoker.InvokeAsync{T}"/> for calls with plain .NET results.</summary>
    public static class WorkerInvokerExtensions
    {
        /// <summary>
        /// Call <paramref name="method"/> and return its result as plain .NET values: null, bool, long,
        /// double, string, byte[], object[] or <c>Dictionary&lt;string, object&gt;</c>.
        /// </summary>
        public static Task<object> InvokeAsync(this IWorkerInvoker invoker, string method, object parameters = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return invoker.InvokeAsync(new Invocation<object>(method, parameters, reader => reader.ReadValue()), cancellationToken);
        }

        /// <summary>The same, with each <c>$/progress</c> value reported to <paramref name="progress"/>.</summary>
        public static Task<object> InvokeAsync(this IWorkerInvoker invoker, string method, object parameters, IProgress<object> progress,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var invocation = new Invocation<object>(method, parameters, reader => reader.ReadValue()) { Progress = progress };
            return invoker.InvokeAsync(invocation, cancellationToken);
        }

        /// <summary>Call <paramref name="method"/> and read its result with <paramref name="readResult"/>.</summary>
        public static Task<T> InvokeAsync<T>(this IWorkerInvoker invoker, string method, object parameters, ResultReader<T> readResult,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return invoker.InvokeAsync(new Invocation<T>(method, parameters, readResult), cancellationToken);
        }
    }
}
