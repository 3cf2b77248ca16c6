using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// A one-way in-memory pipe: what is written is read, in order, by a reader that waits until data
    /// comes or the writer closes (blocking in Read, asynchronously in ReadAsync, so that a connection
    /// left reading holds no thread-pool thread). Optionally hands out at most <see cref="MaxReadSize"/>
    /// bytes per read, to exercise frames arriving in pieces.
    /// </summary>
    internal sealed class MemoryPipe : Stream
    {
        private readonly object _lock = new object();
        private readonly MemoryStream _data = new MemoryStream();
        private long _readPosition;
        private bool _closed;
        private TaskCompletionSource<bool> _changed = NewSignal();

        public int MaxReadSize { get; set; } = int.MaxValue;

        public void CloseWriter()
        {
            lock (_lock)
            {
                _closed = true;
                Changed();
            }
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                while (_readPosition == _data.Length && !_closed) Monitor.Wait(_lock);
                return Take(buffer, offset, count);
            }
        }

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            while (true)
            {
                Task changed;
                lock (_lock)
                {
                    if (_readPosition < _data.Length || _closed) return Take(buffer, offset, count);
                    changed = _changed.Task;
                }
                if (cancellationToken.CanBeCanceled) await Task.WhenAny(changed, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
                else await changed.ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        // Under _lock, with data or the end at hand.
        private int Take(byte[] buffer, int offset, int count)
        {
            int available = (int)Math.Min(_data.Length - _readPosition, Math.Min(count, MaxReadSize));
            if (available == 0) return 0;
            Buffer.BlockCopy(_data.GetBuffer(), (int)_readPosition, buffer, offset, available);
            _readPosition += available;
            return available;
        }

        // Under _lock: wake blocked readers and asynchronous ones.
        private void Changed()
        {
            Monitor.PulseAll(_lock);
            var changed = _changed;
            _changed = NewSignal();
            changed.TrySetResult(true);
        }

        private static TaskCompletionSource<bool> NewSignal()
        {
            return new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_lock)
            {
                if (_closed) throw new IOException("the pipe is closed");
                _data.Position = _data.Length;
                _data.Write(buffer, offset, count);
                Changed();
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
