using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// A one-way in-memory pipe: what is written is read, in order, by a reader that blocks until data
    /// comes or the writer closes. Optionally hands out at most <see cref="MaxReadSize"/> bytes per read,
    /// to exercise frames arriving in pieces.
    /// </summary>
    internal sealed class MemoryPipe : Stream
    {
        private readonly object _lock = new object();
        private readonly MemoryStream _data = new MemoryStream();
        private long _readPosition;
        private bool _closed;

        public int MaxReadSize { get; set; } = int.MaxValue;

        public void CloseWriter()
        {
            lock (_lock)
            {
                _closed = true;
                Monitor.PulseAll(_lock);
            }
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                while (_readPosition == _data.Length && !_closed) Monitor.Wait(_lock);
                int available = (int)Math.Min(_data.Length - _readPosition, Math.Min(count, MaxReadSize));
                if (available == 0) return 0;
                var all = _data.GetBuffer();
                Buffer.BlockCopy(all, (int)_readPosition, buffer, offset, available);
                _readPosition += available;
                return available;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            return Task.Run(() => Read(buffer, offset, count), cancellationToken);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                if (_closed) throw new IOException("the pipe is closed");
                _data.Position = _data.Length;
                _data.Write(buffer, offset, count);
                Monitor.PulseAll(_lock);
            }
        }

        public override void Flush()
        {
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
