using System;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Protocol;

namespace HfWorker.Tests.Support
{
    /// <summary>A call on a bare <see cref="RpcConnection"/> (no worker process), its result read as plain values.</summary>
    internal static class RpcCalls
    {
        public static Task<object> Call(RpcConnection connection, string method, object parameters = null,
            IProgress<object> progress = null, CancellationToken token = default(CancellationToken), TimeSpan? timeout = null)
        {
            var invocation = new Invocation<object>(method, parameters, r => r.ReadValue()) { Progress = progress };
            return connection.InvokeAsync(invocation, null, timeout ?? Timeout.InfiniteTimeSpan, token);
        }
    }
}
