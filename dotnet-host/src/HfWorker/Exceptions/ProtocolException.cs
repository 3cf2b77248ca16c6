using System;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// The worker's bytes broke the protocol (a truncated or oversized frame, a message that is not
    /// JSON-RPC 2.0), or a message to send does not fit a frame. The connection is not trusted after
    /// a broken frame: the worker is stopped and its calls fail.
    /// </summary>
    public sealed class ProtocolException : HfWorkerException
    {
        /// <summary>A protocol violation.</summary>
        public ProtocolException(string message) : base(message)
        {
        }

        /// <summary>A protocol violation caused by another exception.</summary>
        public ProtocolException(string message, Exception inner) : base(message, inner)
        {
        }
    }
}
