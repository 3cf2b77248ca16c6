using System;
using System.IO;
using HfWorker.Exceptions;

namespace HfWorker.Framing
{
    /// <summary>
    /// Cuts a byte stream into payloads framed as the worker's default <c>--framing length</c>:
    /// a 4-byte unsigned big-endian length, then that many bytes (StreamJsonRpc's
    /// LengthHeaderMessageHandler). Knows nothing of MessagePack or JSON-RPC.
    /// </summary>
    /// <remarks>
    /// Reads block: the reader runs on a thread of its own (see <see cref="Protocol.RpcConnection"/>), because
    /// a process's pipes are not truly asynchronous on every runtime, and an "asynchronous" read there holds a
    /// thread-pool thread for the worker's whole life, which makes the next worker's start wait for the pool to grow.
    /// Reads go through one buffer, so many small frames cost one read call; a frame larger than the
    /// buffer is read straight into its own array. A frame over the limit is a broken promise by the
    /// worker (it was told the limit with <c>--max-frame-bytes</c>), so it ends the stream rather
    /// than being skipped: its call could not be identified anyway.
    /// </remarks>
    internal sealed class FrameReader
    {
        public const int HeaderSize = 4;
        private const int BufferSize = 64 * 1024;

        private readonly Stream _stream;
        private readonly int _maxFrameBytes;
        private readonly byte[] _buffer = new byte[BufferSize];
        private int _start;
        private int _end;

        public FrameReader(Stream stream, int maxFrameBytes)
        {
            if (stream == null) throw new ArgumentNullException("stream");
            if (maxFrameBytes <= 0) throw new ArgumentOutOfRangeException("maxFrameBytes");
            _stream = stream;
            _maxFrameBytes = maxFrameBytes;
        }

        /// <summary>Frames read so far.</summary>
        public long FramesRead { get; private set; }

        /// <summary>
        /// The next payload, or null when the stream ended cleanly between frames. Throws
        /// <see cref="ProtocolException"/> when it ended inside a frame or a frame exceeds the limit.
        /// </summary>
        public byte[] ReadFrame()
        {
            if (!Fill(HeaderSize))
            {
                if (_end == _start) return null;
                throw new ProtocolException("the stream ended inside a frame header (" + (_end - _start) + " of 4 bytes)");
            }
            uint length = (uint)(_buffer[_start] << 24 | _buffer[_start + 1] << 16 | _buffer[_start + 2] << 8 | _buffer[_start + 3]);
            _start += HeaderSize;
            if (length > (uint)_maxFrameBytes)
            {
                throw new ProtocolException("a frame of " + length + " bytes exceeds the limit of " + _maxFrameBytes + " bytes");
            }
            var payload = new byte[length];
            int buffered = Math.Min(_end - _start, (int)length);
            Buffer.BlockCopy(_buffer, _start, payload, 0, buffered);
            _start += buffered;
            int got = buffered;
            while (got < length)
            {
                int n = _stream.Read(payload, got, (int)length - got);
                if (n <= 0)
                {
                    throw new ProtocolException("the stream ended " + (length - got) + " bytes before the end of a " + length + "-byte frame");
                }
                got += n;
            }
            FramesRead++;
            return payload;
        }

        /// <summary>Whether a whole frame is buffered already, so that <see cref="ReadFrame"/> would not block.</summary>
        public bool HasFrameBuffered
        {
            get
            {
                int buffered = _end - _start;
                if (buffered < HeaderSize) return false;
                uint length = (uint)(_buffer[_start] << 24 | _buffer[_start + 1] << 16 | _buffer[_start + 2] << 8 | _buffer[_start + 3]);
                return length <= (uint)(buffered - HeaderSize);
            }
        }

        /// <summary>Make at least <paramref name="count"/> bytes available; false if the stream ended first.</summary>
        private bool Fill(int count)
        {
            if (_end - _start >= count) return true;
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            while (_end - _start < count)
            {
                int n = _stream.Read(_buffer, _end, _buffer.Length - _end);
                if (n <= 0) return false;
                _end += n;
            }
            return true;
        }
    }
}
