using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace HfWorker.Launch
{
    /// <summary>
    /// The few POSIX calls the named pipe's safety needs and the base class library lacks in netstandard2.0:
    /// a folder made with mode 0700 in one step, its owner and mode read back, the peer of a connected Unix
    /// socket. Each call goes to <c>libc</c> and, where that name does not load (.NET on glibc), to
    /// <c>libc.so.6</c>.
    /// </summary>
    internal static class UnixCalls
    {
        public static readonly bool IsLinux = RuntimeInformation.IsOSPlatform(OSPlatform.Linux);
        public static readonly bool IsMacOS = RuntimeInformation.IsOSPlatform(OSPlatform.OSX);

        private const int SolSocket = 1;      // Linux
        private const int SoPeerCred = 17;    // Linux
        private const int AtFdCwd = -100;     // Linux
        private const int AtSymlinkNoFollow = 0x100;
        private const uint StatxMode = 0x2, StatxUid = 0x8;
        private const int StatxSize = 256;
        private const int ModeTypeMask = 0xF000, ModeDirectory = 0x4000, ModeLink = 0xA000;

        private static bool _glibcName;

        /// <summary>The effective user id of this process.</summary>
        public static uint EffectiveUserId()
        {
            return Call(() => Libc.geteuid(), () => Glibc.geteuid());
        }

        /// <summary>Make <paramref name="path"/> as a new folder only its owner can enter; false when something is already there.</summary>
        /// <remarks>
        /// mkdir fails on any existing entry, a symbolic link included, so a folder it made is new and ours; the
        /// chmod undoes what an unusual umask took away.
        /// </remarks>
        public static bool MakePrivateFolder(string path)
        {
            if (Call(() => Libc.mkdir(path, Convert.ToInt32("700", 8)), () => Glibc.mkdir(path, Convert.ToInt32("700", 8))) != 0)
            {
                return false;
            }
            Call(() => Libc.chmod(path, Convert.ToInt32("700", 8)), () => Glibc.chmod(path, Convert.ToInt32("700", 8)));
            return true;
        }

        /// <summary>What the file system says of <paramref name="path"/> itself (a link is not followed); null where it cannot say (not Linux, no such path).</summary>
        public static PathFacts Describe(string path)
        {
            if (!IsLinux) return null;
            var buffer = new byte[StatxSize];
            int status;
            try
            {
                status = Call(() => Libc.statx(AtFdCwd, path, AtSymlinkNoFollow, StatxMode | StatxUid, buffer),
                    () => Glibc.statx(AtFdCwd, path, AtSymlinkNoFollow, StatxMode | StatxUid, buffer));
            }
            catch (EntryPointNotFoundException)
            {
                return null; // a C library older than statx (glibc 2.28)
            }
            if (status != 0) return null;
            // struct statx: stx_uid at byte 20, stx_mode (16 bits) at byte 28, on every architecture.
            int mode = BitConverter.ToUInt16(buffer, 28);
            uint uid = BitConverter.ToUInt32(buffer, 20);
            return new PathFacts((mode & ModeTypeMask) == ModeDirectory, (mode & ModeTypeMask) == ModeLink, uid, mode & Convert.ToInt32("7777", 8));
        }

        /// <summary>
        /// The process at the other end of the connected Unix socket <paramref name="socket"/>: pid and uid on Linux
        /// (SO_PEERCRED, as the kernel recorded them at connect), the uid alone on macOS (getpeereid); null elsewhere
        /// or when the call fails.
        /// </summary>
        public static PeerCredentials PeerOf(IntPtr socket)
        {
            if (IsLinux)
            {
                var credentials = new UCred();
                int length = Marshal.SizeOf(typeof(UCred));
                int status = Call(() => Libc.getsockopt(socket, SolSocket, SoPeerCred, ref credentials, ref length),
                    () => Glibc.getsockopt(socket, SolSocket, SoPeerCred, ref credentials, ref length));
                return status == 0 ? new PeerCredentials(credentials.Pid, credentials.Uid) : null;
            }
            if (IsMacOS)
            {
                uint uid, gid;
                return Libc.getpeereid(socket, out uid, out gid) == 0 ? new PeerCredentials(null, uid) : null;
            }
            return null;
        }

        private static T Call<T>(Func<T> libc, Func<T> glibc)
        {
            if (Volatile.Read(ref _glibcName)) return glibc();
            try
            {
                return libc();
            }
            catch (DllNotFoundException)
            {
                Volatile.Write(ref _glibcName, true);
                return glibc();
            }
        }

        [StructLayout(LayoutKind.Sequential)]
        private struct UCred
        {
            public int Pid;
            public uint Uid;
            public uint Gid;
        }

        // The names are the C library's own: these are its functions, not this library's.
        private static class Libc
        {
            [DllImport("libc", SetLastError = true)]
            public static extern uint geteuid();

            [DllImport("libc", SetLastError = true)]
            public static extern int mkdir(string path, int mode);

            [DllImport("libc", SetLastError = true)]
            public static extern int chmod(string path, int mode);

            [DllImport("libc", SetLastError = true)]
            public static extern int statx(int directory, string path, int flags, uint mask, byte[] buffer);

            [DllImport("libc", SetLastError = true)]
            public static extern int getsockopt(IntPtr socket, int level, int option, ref UCred value, ref int length);

            [DllImport("libc", SetLastError = true)]
            public static extern int getpeereid(IntPtr socket, out uint uid, out uint gid);
        }

        private static class Glibc
        {
            [DllImport("libc.so.6", SetLastError = true)]
            public static extern uint geteuid();

            [DllImport("libc.so.6", SetLastError = true)]
            public static extern int mkdir(string path, int mode);

            [DllImport("libc.so.6", SetLastError = true)]
            public static extern int chmod(string path, int mode);

            [DllImport("libc.so.6", SetLastError = true)]
            public static extern int statx(int directory, string path, int flags, uint mask, byte[] buffer);

            [DllImport("libc.so.6", SetLastError = true)]
            public static extern int getsockopt(IntPtr socket, int level, int option, ref UCred value, ref int length);
        }
    }

    /// <summary>A path's type, owner and permission bits, as <c>statx</c> gave them.</summary>
    internal sealed class PathFacts
    {
        public PathFacts(bool isDirectory, bool isSymbolicLink, uint ownerId, int permissions)
        {
            IsDirectory = isDirectory;
            IsSymbolicLink = isSymbolicLink;
            OwnerId = ownerId;
            Permissions = permissions;
        }

        public bool IsDirectory { get; private set; }

        public bool IsSymbolicLink { get; private set; }

        public uint OwnerId { get; private set; }

        /// <summary>The permission bits (e.g. 0700 as 448).</summary>
        public int Permissions { get; private set; }
    }

    /// <summary>Who is at the other end of a pipe, as far as the operating system tells: either part may be unknown.</summary>
    internal sealed class PeerCredentials
    {
        public PeerCredentials(int? processId, uint? userId)
        {
            ProcessId = processId;
            UserId = userId;
        }

        public int? ProcessId { get; private set; }

        public uint? UserId { get; private set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return "pid " + (ProcessId.HasValue ? ProcessId.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown")
                + ", uid " + (UserId.HasValue ? UserId.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "unknown");
        }
    }
}
