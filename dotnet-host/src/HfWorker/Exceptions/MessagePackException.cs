using System;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// Bytes that are not valid MessagePack (truncated, a reserved format byte, invalid UTF-8), or a
    /// value that is not of the type the reader was asked for.
    /// </summary>
    public sealed class MessagePackException : HfWorkerException
    {
        /// <summary>A decoding or encoding problem.</summary>
        public MessagePackException(string message) : base(message)
        {
        }

        /// <summary>A decoding or encoding problem caused by another exception.</summary>
        public MessagePackException(string message, Exception inner) : base(message, inner)
        {
        }
    }
}
