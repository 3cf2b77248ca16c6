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
            var refused = Refusal<object>(invoker, method, true);
            return refused ?? invoker.InvokeAsync(new Invocation<object>(method, parameters, reader => reader.ReadValue()), cancellationToken);
        }

        /// <summary>The same, with each <c>$/progress</c> value reported to <paramref name="progress"/>.</summary>
        public static Task<object> InvokeAsync(this IWorkerInvoker invoker, string method, object parameters, IProgress<object> progress,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var refused = Refusal<object>(invoker, method, true);
            if (refused != null) return refused;
            var invocation = new Invocation<object>(method, parameters, reader => reader.ReadValue()) { Progress = progress };
            return invoker.InvokeAsync(invocation, cancellationToken);
        }

        /// <summary>Call <paramref name="method"/> and read its result with <paramref name="readResult"/>.</summary>
        public static Task<T> InvokeAsync<T>(this IWorkerInvoker invoker, string method, object parameters, ResultReader<T> readResult,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var refused = Refusal<T>(invoker, method, readResult != null);
            return refused ?? invoker.InvokeAsync(new Invocation<T>(method, parameters, readResult), cancellationToken);
        }

        /// <summary>
        /// As <see cref="IWorkerInvoker.InvokeAsync{T}"/> does, an argument error comes back as the task's exception,
        /// not as a throw (checked here, so that the <see cref="Invocation{T}"/> constructor does not throw); null when
        /// the arguments are fine.
        /// </summary>
        private static Task<T> Refusal<T>(IWorkerInvoker invoker, string method, bool hasReadResult)
        {
            if (invoker == null) return Task.FromException<T>(new ArgumentNullException("invoker"));
            if (string.IsNullOrEmpty(method)) return Task.FromException<T>(new ArgumentException("a method name is required", "method"));
            if (!hasReadResult) return Task.FromException<T>(new ArgumentNullException("readResult"));
            return null;
        }
    }
}
