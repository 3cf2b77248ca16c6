using System;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// A call took longer than its timeout. The host stopped waiting and sent <c>$/cancelRequest</c>,
    /// so the worker stops the work if the handler checks for cancellation.
    /// </summary>
    public sealed class CallTimeoutException : HfWorkerException
    {
        /// <summary>A call that timed out.</summary>
        public CallTimeoutException(string method, TimeSpan timeout, string where = null)
            : base(method + ": no answer within " + Format(timeout) + (where == null ? "" : " (" + where + ")")
                + "; the call was cancelled")
        {
            Method = method;
            Timeout = timeout;
        }

        /// <summary>The method called.</summary>
        public string Method { get; private set; }

        /// <summary>The timeout that elapsed.</summary>
        public TimeSpan Timeout { get; private set; }

        internal static string Format(TimeSpan span)
        {
            return span.TotalSeconds >= 1 ? span.TotalSeconds.ToString("0.###") + " s" : span.TotalMilliseconds.ToString("0") + " ms";
        }
    }
}
