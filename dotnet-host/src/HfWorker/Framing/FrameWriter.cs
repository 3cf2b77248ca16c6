using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.MessagePack;

namespace HfWorker.Framing
{
    /// <summary>
    /// Writes length-prefixed frames, one at a time: callers on many threads share one stream, and a
    /// frame must reach it whole. The payload is encoded behind a reserved 4-byte header, so the
    /// frame goes out in a single write with no copy.
    /// </summary>
    internal sealed class FrameWriter : IDisposable
    {
        private readonly Stream _stream;
        private readonly int _maxFrameBytes;
        private readonly SemaphoreSlim _lock = new SemaphoreSlim(1, 1);

        public FrameWriter(Stream stream, int maxFrameBytes)
        {
            if (stream == null) throw new ArgumentNullException("stream");
            _stream = stream;
            _maxFrameBytes = maxFrameBytes;
        }

        /// <summary>A writer whose first bytes are reserved for the header; encode the payload into it.</summary>
        public static MessagePackWriter StartFrame()
        {
            var writer = new MessagePackWriter(256);
            writer.ResetWithReservedPrefix(FrameReader.HeaderSize);
            return writer;
        }

        /// <summary>The complete frame for a payload encoded after <see cref="StartFrame"/>.</summary>
        public static ArraySegment<byte> FinishFrame(MessagePackWriter payload)
        {
            int length = payload.Length;
            payload.FillReserved(0, (byte)(length >> 24));
            payload.FillReserved(1, (byte)(length >> 16));
            payload.FillReserved(2, (byte)(length >> 8));
            payload.FillReserved(3, (byte)length);
            return payload.WrittenBytesWithPrefix;
        }

        /// <summary>Frame and send a payload encoded after <see cref="StartFrame"/>.</summary>
        public async Task WriteAsync(MessagePackWriter payload)
        {
            if (payload.Length > _maxFrameBytes)
            {
                throw new ProtocolException(
                    "a " + payload.Length + "-byte message exceeds the frame limit of " + _maxFrameBytes + " bytes; "
                    + "raise MaxFrameBytes or send large data in parts");
            }
            var frame = FinishFrame(payload);
            await _lock.WaitAsync().ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(frame.Array, frame.Offset, frame.Count).ConfigureAwait(false);
                await _stream.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                _lock.Release();
            }
        }

        public void Dispose()
        {
            _lock.Dispose();
        }
    }
}
