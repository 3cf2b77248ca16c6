using System;
using System.IO;
using System.IO.Pipes;
using System.Runtime.InteropServices;

namespace HfWorker.Framing
{
    /// <summary>
    /// Plain blocking reads and writes on a connected pipe's Unix socket, for Mono, where the pipe's own are slow.
    /// </summary>
    /// <remarks>
    /// <para>The host opens its pipe with <see cref="PipeOptions.Asynchronous"/>, so that waiting for the worker to
    /// connect holds no thread. Mono's <see cref="PipeStream"/> (from corefx) then serves a synchronous
    /// <c>Read</c> or <c>Write</c> by starting the asynchronous socket operation and waiting for it: through Mono's
    /// I/O selector thread, the thread pool and a wait handle, over 100 µs of CPU a call where a <c>read</c> on the
    /// same socket costs a few. So once the peer is accepted and checked, frames go over two duplicates of the
    /// socket's descriptor, one per direction, read and written with <c>read</c> and <c>write</c> (Mono's
    /// <see cref="FileStream"/> refuses a socket). Each stream owns its duplicate, closed once no read or write is
    /// using it: the pipe can be disposed without pulling a descriptor from under a read in progress.</para>
    /// <para>Only on Mono on Linux and macOS: on Windows a pipe is not a socket, and .NET's <see cref="PipeStream"/>
    /// reads a Unix socket synchronously already. Anything unexpected leaves the pipe's own stream in use.</para>
    /// </remarks>
    internal sealed class SocketFileStreams : IDisposable
    {
        private static readonly bool Applies = Type.GetType("Mono.Runtime") != null && Path.DirectorySeparatorChar != '\\';

        private SocketFileStreams(DescriptorStream input, DescriptorStream output)
        {
            Input = input;
            Output = output;
        }

        /// <summary>What the worker writes (frames to read).</summary>
        public Stream Input { get; private set; }

        /// <summary>What the worker reads (frames to write).</summary>
        public Stream Output { get; private set; }

        /// <summary>Streams over <paramref name="pipe"/>'s connected socket, or null where they do not apply or cannot be made.</summary>
        public static SocketFileStreams TryOpen(PipeStream pipe)
        {
            if (!Applies || pipe == null || !pipe.IsConnected) return null;
            Descriptor reading = null, writing = null;
            try
            {
                int socket = (int)pipe.SafePipeHandle.DangerousGetHandle();
                reading = Descriptor.Duplicate(socket);
                writing = Descriptor.Duplicate(socket);
                // The socket is a blocking one; should a runtime have made it non-blocking, a read would fail with EAGAIN.
                if (reading != null && writing != null && reading.MakeBlocking())
                {
                    return new SocketFileStreams(new DescriptorStream(reading, FileAccess.Read), new DescriptorStream(writing, FileAccess.Write));
                }
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException || e is ObjectDisposedException)
            {
                // Not a platform these calls are for: the pipe's own stream does it all.
            }
            if (reading != null) reading.Dispose();
            if (writing != null) writing.Dispose();
            return null;
        }

        public void Dispose()
        {
            Input.Dispose();
            Output.Dispose();
        }

        /// <summary>A file descriptor this process owns; closed once released by every read and write in progress.</summary>
        private sealed class Descriptor : SafeHandle
        {
            private const int F_GETFL = 3, F_SETFL = 4;

            private Descriptor(int fd) : base((IntPtr)(-1), true)
            {
                SetHandle((IntPtr)fd);
            }

            public override bool IsInvalid
            {
                get { return (int)handle < 0; }
            }

            public int Fd
            {
                get { return (int)handle; }
            }

            public static Descriptor Duplicate(int fd)
            {
                int copy = Native.dup(fd);
                return copy < 0 ? null : new Descriptor(copy);
            }

            public bool MakeBlocking()
            {
                // O_NONBLOCK: 04000 on Linux, 4 on macOS. Blocking belongs to the socket, shared by its descriptors.
                int nonBlocking = Launch.UnixCalls.IsMacOS ? 0x4 : 0x800;
                int flags = Native.fcntl(Fd, F_GETFL, 0);
                return flags >= 0 && ((flags & nonBlocking) == 0 || Native.fcntl(Fd, F_SETFL, flags & ~nonBlocking) >= 0);
            }

            protected override bool ReleaseHandle()
            {
                return Native.close((int)handle) == 0;
            }
        }

        /// <summary>One direction of the socket, with blocking <c>read</c> or <c>write</c>.</summary>
        private sealed class DescriptorStream : Stream
        {
            private const int EINTR = 4;
            private readonly Descriptor _descriptor;
            private readonly FileAccess _access;

            public DescriptorStream(Descriptor descriptor, FileAccess access)
            {
                _descriptor = descriptor;
                _access = access;
            }

            public override bool CanRead
            {
                get { return _access == FileAccess.Read; }
            }

            public override bool CanWrite
            {
                get { return _access == FileAccess.Write; }
            }

            public override bool CanSeek
            {
                get { return false; }
            }

            public override int Read(byte[] buffer, int offset, int count)
            {
                if (buffer == null) throw new ArgumentNullException("buffer");
                if (offset < 0 || count < 0 || offset + count > buffer.Length) throw new ArgumentOutOfRangeException("count");
                return (int)Transfer(buffer, offset, count, true);
            }

            public override void Write(byte[] buffer, int offset, int count)
            {
                if (buffer == null) throw new ArgumentNullException("buffer");
                if (offset < 0 || count < 0 || offset + count > buffer.Length) throw new ArgumentOutOfRangeException("count");
                while (count > 0)
                {
                    int written = (int)Transfer(buffer, offset, count, false);
                    offset += written;
                    count -= written;
                }
            }

            public override void Flush()
            {
            }

            protected override void Dispose(bool disposing)
            {
                if (disposing) _descriptor.Dispose();
                base.Dispose(disposing);
            }

            /// <summary>One <c>read</c> or <c>write</c>, retried when a signal interrupts it; the descriptor stays open meanwhile.</summary>
            private long Transfer(byte[] buffer, int offset, int count, bool reading)
            {
                bool added = false;
                var pinned = GCHandle.Alloc(buffer, GCHandleType.Pinned);
                try
                {
                    _descriptor.DangerousAddRef(ref added);
                    var at = Marshal.UnsafeAddrOfPinnedArrayElement(buffer, offset);
                    while (true)
                    {
                        long done = (long)(reading ? Native.read(_descriptor.Fd, at, (IntPtr)count) : Native.write(_descriptor.Fd, at, (IntPtr)count));
                        if (done >= 0) return done;
                        int errno = Marshal.GetLastWin32Error();
                        if (errno == EINTR) continue;
                        throw new IOException("the pipe's socket refused a " + (reading ? "read" : "write") + " (errno " + errno + ")");
                    }
                }
                finally
                {
                    if (added) _descriptor.DangerousRelease();
                    pinned.Free();
                }
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

            public override long Seek(long offset, SeekOrigin origin)
            {
                throw new NotSupportedException();
            }

            public override void SetLength(long value)
            {
                throw new NotSupportedException();
            }
        }

        private static class Native
        {
            [DllImport("libc", SetLastError = true)]
            public static extern int dup(int fd);

            [DllImport("libc", SetLastError = true)]
            public static extern int fcntl(int fd, int command, int argument);

            [DllImport("libc", SetLastError = true)]
            public static extern int close(int fd);

            [DllImport("libc", SetLastError = true)]
            public static extern IntPtr read(int fd, IntPtr buffer, IntPtr count);

            [DllImport("libc", SetLastError = true)]
            public static extern IntPtr write(int fd, IntPtr buffer, IntPtr count);
        }
    }
}
