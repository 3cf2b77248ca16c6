using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Framing;
using HfWorker.MessagePack;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Protocol
{
    /// <summary>
    /// The frame writer writes on the caller's thread, one writer at a time, in queue order; a stream that stops
    /// taking bytes (a worker that stopped reading) must hold up one thread at most, never every caller.
    /// </summary>
    [TestFixture]
    public class FrameWriterSpecs
    {
        private static MessagePackWriter Payload(string text)
        {
            var frame = FrameWriter.StartFrame();
            frame.WriteString(text);
            return frame;
        }

        private static List<string> FramesIn(byte[] bytes)
        {
            var pipe = new MemoryPipe();
            pipe.Write(bytes, 0, bytes.Length);
            pipe.CloseWriter();
            var reader = new FrameReader(pipe, 1 << 20);
            var texts = new List<string>();
            byte[] payload;
            while ((payload = reader.ReadFrame()) != null) texts.Add(new MessagePackReader(payload).ReadString());
            return texts;
        }

        [Test, Timeout(10000)]
        public async Task A_write_blocked_by_a_full_stream_holds_up_no_other_caller()
        {
            var stream = new GatedStream();
            var writer = new FrameWriter(stream, 1 << 20);
            var blocked = Task.Run(() => writer.WriteAsync(Payload("first")));
            await stream.WriteBlocked;
            // The stream takes nothing now. A second caller queues its frame and returns: its task waits, its thread does not.
            var second = writer.WriteAsync(Payload("second"));
            var third = writer.WriteAsync(Payload("third"));
            Assert.That(second.IsCompleted || third.IsCompleted, Is.False, "nothing was written past the blocked write");
            stream.Open();
            await Task.WhenAll(blocked, second, third);
            Assert.That(FramesIn(stream.Written), Is.EqualTo(new[] { "first", "second", "third" }));
        }

        [Test, Timeout(10000)]
        public async Task A_sender_that_must_not_block_hands_its_write_to_the_thread_pool()
        {
            // A cancel sent from a token's callback or a timer: it must return even when the stream takes nothing.
            var stream = new GatedStream();
            var writer = new FrameWriter(stream, 1 << 20);
            var cancel = writer.WriteAsync(Payload("cancel"), false);
            await stream.WriteBlocked;
            Assert.That(cancel.IsCompleted, Is.False);
            stream.Open();
            await cancel;
            Assert.That(FramesIn(stream.Written), Is.EqualTo(new[] { "cancel" }));
        }

        [Test, Timeout(10000)]
        public async Task Frames_reach_the_stream_in_the_order_they_were_queued()
        {
            var stream = new GatedStream();
            stream.Open();
            var writer = new FrameWriter(stream, 1 << 20);
            Assert.That(writer.Enqueue(Payload("request")), Is.True);
            var cancel = writer.WriteAsync(Payload("cancel for the request"), false);
            writer.Flush(true);
            await cancel;
            Assert.That(FramesIn(stream.Written), Is.EqualTo(new[] { "request", "cancel for the request" }));
        }

        [Test, Timeout(10000)]
        public async Task A_stream_that_fails_fails_what_is_queued_and_later_frames_and_is_reported_once()
        {
            var stream = new GatedStream();
            var writer = new FrameWriter(stream, 1 << 20);
            var failures = new List<Exception>();
            writer.Failed = e => { lock (failures) failures.Add(e); };
            var blocked = Task.Run(() => writer.WriteAsync(Payload("first")));
            await stream.WriteBlocked;
            var queued = writer.WriteAsync(Payload("second"));
            stream.Break();
            await AsyncAssert.Throws<IOException>(() => blocked);
            await AsyncAssert.Throws<IOException>(() => queued);
            await AsyncAssert.Throws<IOException>(() => writer.WriteAsync(Payload("later")));
            Assert.That(writer.Enqueue(Payload("later still")), Is.False);
            Assert.That(failures.Count, Is.EqualTo(1));
            Assert.That(writer.Failure, Is.InstanceOf<IOException>());
        }

        /// <summary>A write-only stream whose writes block until it is opened (a full pipe), or fail once it is broken.</summary>
        private sealed class GatedStream : Stream
        {
            private readonly object _lock = new object();
            private readonly MemoryStream _written = new MemoryStream();
            private readonly TaskCompletionSource<bool> _blocked = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            private bool _open, _broken;

            /// <summary>Completes once a write waits for the stream to open.</summary>
            public Task WriteBlocked
            {
                get { return _blocked.Task; }
            }

            public byte[] Written
            {
                get
                {
                    lock (_lock) return _written.ToArray();
                }
            }

            public void Open()
            {
                lock (_lock)
                {
                    _open = true;
                    Monitor.PulseAll(_lock);
                }
            }

            public void Break()
            {
                lock (_lock)
                {
                    _broken = true;
                    Monitor.PulseAll(_lock);
                }
            }

            public override void Write(byte[] buffer, int offset, int count)
            {
                lock (_lock)
                {
                    while (!_open && !_broken)
                    {
                        _blocked.TrySetResult(true);
                        Monitor.Wait(_lock);
                    }
                    if (_broken) throw new IOException("Broken pipe");
                    _written.Write(buffer, offset, count);
                }
            }

            public override void Flush()
            {
            }

            public override bool CanRead
            {
                get { return false; }
            }

            public override bool CanSeek
            {
                get { return false; }
            }

            public override bool CanWrite
            {
                get { return true; }
            }

            public override long Length
            {
                get { throw new NotSupportedException(); }
            }

            public override long Position
            {
                get { throw new NotSupportedException(); }
                set { throw new NotSupportedException(); }
            }

            public override int Read(byte[] buffer, int offset, int count)
            {
                throw new NotSupportedException();
            }

            public override long Seek(long offset, SeekOrigin origin)
            {
                throw new NotSupportedException();
            }

            public override void SetLength(long value)
            {
                throw new NotSupportedException();
            }
        }
    }
}
