using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// The cross-process lock of one environment: a lock file beside its folder, held while it is built. The
    /// operating system releases it when the holder ends, however it ends, so a killed build never blocks the next.
    /// </summary>
    /// <remarks>
    /// Linux and macOS: <c>flock(LOCK_EX | LOCK_NB)</c> on the file (Mono's FileShare is not enforced between
    /// processes). Windows: the file opened with <see cref="FileShare.None"/>, which is. The lock is tried every
    /// <see cref="RetryInterval"/> rather than waited for in the kernel, so that a cancellation ends the wait.
    /// </remarks>
    internal sealed class EnvironmentLock : IDisposable
    {
        private static readonly bool IsWindows = Path.DirectorySeparatorChar == '\\';
        private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

        private const int LockExclusive = 2, LockNonBlocking = 4, LockRelease = 8;
        // O_RDWR | O_CREAT | O_CLOEXEC: close-on-exec, so that no uv or worker started meanwhile inherits the lock
        // and holds it past this process's end.
        private static readonly int OpenFlags = RuntimeInformation.IsOSPlatform(OSPlatform.OSX) ? 0x2 | 0x200 | 0x1000000 : 0x2 | 0x40 | 0x80000;

        private int _fd = -1;
        private FileStream _stream;

        private EnvironmentLock()
        {
        }

        /// <summary>Take the lock of <paramref name="path"/>; <paramref name="onWait"/> is called once if another process holds it.</summary>
        public static async Task<EnvironmentLock> AcquireAsync(string path, Action onWait, CancellationToken token)
        {
            var held = new EnvironmentLock();
            bool waited = false;
            while (!held.TryTake(path))
            {
                if (!waited)
                {
                    waited = true;
                    onWait();
                }
                await Task.Delay(RetryInterval, token).ConfigureAwait(false);
            }
            return held;
        }

        private bool TryTake(string path)
        {
            if (IsWindows)
            {
                try
                {
                    _stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                    return true;
                }
                catch (IOException)
                {
                    return false;
                }
            }
            int fd = Posix.Open(path, OpenFlags, Convert.ToInt32("644", 8));
            if (fd < 0) throw new IOException("cannot open the lock file " + path + " (errno " + Marshal.GetLastWin32Error() + ")");
            if (Posix.Flock(fd, LockExclusive | LockNonBlocking) == 0)
            {
                _fd = fd;
                return true;
            }
            Posix.Close(fd);
            return false;
        }

        /// <summary>Release the lock (the file stays: deleting it would let a waiter lock a file a third process no longer sees).</summary>
        public void Dispose()
        {
            if (_stream != null)
            {
                _stream.Dispose();
                _stream = null;
            }
            if (_fd >= 0)
            {
                Posix.Flock(_fd, LockRelease);
                Posix.Close(_fd);
                _fd = -1;
            }
        }

        private static class Posix
        {
            private static bool _glibcName;

            public static int Open(string path, int flags, int mode)
            {
                return Call(() => Libc.open(path, flags, mode), () => Glibc.open(path, flags, mode));
            }

            public static int Flock(int fd, int operation)
            {
                return Call(() => Libc.flock(fd, operation), () => Glibc.flock(fd, operation));
            }

            public static int Close(int fd)
            {
                return Call(() => Libc.close(fd), () => Glibc.close(fd));
            }

            // "libc" is what Mono and macOS resolve; .NET on glibc needs the file's real name.
            private static int Call(Func<int> libc, Func<int> glibc)
            {
                if (!_glibcName)
                {
                    try
                    {
                        return libc();
                    }
                    catch (DllNotFoundException)
                    {
                        _glibcName = true;
                    }
                }
                return glibc();
            }

            private static class Libc
            {
                [DllImport("libc", SetLastError = true)]
                public static extern int open(string path, int flags, int mode);

                [DllImport("libc", SetLastError = true)]
                public static extern int flock(int fd, int operation);

                [DllImport("libc", SetLastError = true)]
                public static extern int close(int fd);
            }

            private static class Glibc
            {
                [DllImport("libc.so.6", SetLastError = true)]
                public static extern int open(string path, int flags, int mode);

                [DllImport("libc.so.6", SetLastError = true)]
                public static extern int flock(int fd, int operation);

                [DllImport("libc.so.6", SetLastError = true)]
                public static extern int close(int fd);
            }
        }
    }
}
