using System;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HfWorker.Launch
{
    /// <summary>
    /// A worker and every process it started (a model's helper, a tokenizer server, an ffmpeg), ended together.
    /// </summary>
    /// <remarks>
    /// <para>Linux and macOS: the worker runs with <c>--process-group</c> and leads a process group of its own from
    /// its first instant, which its children join; ending the tree is one <c>kill(-pid, SIGKILL)</c>. A group that
    /// does not exist (the worker had not made it yet, or a launcher script sits between the host and Python) makes
    /// that a no-op, never a signal to anyone else: group ids are the pids of their leaders.</para>
    /// <para>Windows: the process is put in a job object made to end every process in it when the job is
    /// terminated or its last handle closes (so the tree also ends if the host dies). Not tested here: there is no
    /// Windows machine in CI.</para>
    /// </remarks>
    internal sealed class ProcessTree : IDisposable
    {
        private const int SigKill = 9;
        private static readonly bool IsWindows = System.IO.Path.DirectorySeparatorChar == '\\';

        private readonly int _pid;
        private IntPtr _job;

        private ProcessTree(int pid, IntPtr job)
        {
            _pid = pid;
            _job = job;
        }

        /// <summary>The tree rooted at a just-started <paramref name="process"/>.</summary>
        public static ProcessTree Of(Process process)
        {
            return new ProcessTree(process.Id, IsWindows ? WindowsJob.Adopt(process) : IntPtr.Zero);
        }

        /// <summary>The argument that makes the worker lead its own process group, where the platform has groups.</summary>
        public static string WorkerArgument
        {
            get { return IsWindows ? null : "--process-group"; }
        }

        /// <summary>The started process's id: the root of the tree.</summary>
        public int RootId
        {
            get { return _pid; }
        }

        /// <summary>
        /// True when <paramref name="pid"/> is the started process or one it started (Linux: by the parent ids in
        /// /proc; Windows: by membership of the job object), false when it is not, null where the platform cannot tell.
        /// </summary>
        public bool? Contains(int pid)
        {
            if (pid == _pid) return true;
            if (!IsWindows) return ProcessAncestry.Descends(pid, _pid);
            try
            {
                return _job == IntPtr.Zero ? (bool?)null : WindowsJob.Holds(_job, pid);
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                return null;
            }
        }

        /// <summary>Kill every process of the tree that is still there. Never throws.</summary>
        public void KillAll()
        {
            try
            {
                if (IsWindows)
                {
                    if (_job != IntPtr.Zero) WindowsJob.Terminate(_job);
                }
                else
                {
                    Posix.KillGroup(_pid, SigKill);
                }
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException)
            {
                // No way to reach the tree on this platform: the caller still kills the worker itself.
            }
        }

        public void Dispose()
        {
            var job = _job;
            _job = IntPtr.Zero;
            if (job != IntPtr.Zero) WindowsJob.Close(job);
        }

        private static class Posix
        {
            [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
            private static extern int Kill(int pid, int signal);

            [DllImport("libc.so.6", EntryPoint = "kill", SetLastError = true)]
            private static extern int KillGlibc(int pid, int signal);

            public static void KillGroup(int leader, int signal)
            {
                if (leader <= 1) return; // -1 would mean every process we may signal; 0 our own group
                try
                {
                    Kill(-leader, signal);
                }
                catch (DllNotFoundException)
                {
                    KillGlibc(-leader, signal);
                }
                // ESRCH (no such group) is the expected outcome when nothing of the tree is left.
            }
        }

        private static class WindowsJob
        {
            private const int ExtendedLimitInformation = 9;
            private const uint KillOnJobClose = 0x2000;

            public static IntPtr Adopt(Process process)
            {
                var job = CreateJobObject(IntPtr.Zero, null);
                if (job == IntPtr.Zero) return IntPtr.Zero;
                var limits = new ExtendedLimits();
                limits.Basic.LimitFlags = KillOnJobClose;
                int size = Marshal.SizeOf(typeof(ExtendedLimits));
                var buffer = Marshal.AllocHGlobal(size);
                try
                {
                    Marshal.StructureToPtr(limits, buffer, false);
                    if (SetInformationJobObject(job, ExtendedLimitInformation, buffer, (uint)size) && AssignProcessToJobObject(job, process.Handle)) return job;
                }
                finally
                {
                    Marshal.FreeHGlobal(buffer);
                }
                CloseHandle(job);
                return IntPtr.Zero;
            }

            public static bool Holds(IntPtr job, int pid)
            {
                const uint QueryLimitedInformation = 0x1000;
                var process = OpenProcess(QueryLimitedInformation, false, (uint)pid);
                if (process == IntPtr.Zero) return false; // gone, or not ours to look at
                try
                {
                    bool inJob;
                    return IsProcessInJob(process, job, out inJob) && inJob;
                }
                finally
                {
                    CloseHandle(process);
                }
            }

            public static void Terminate(IntPtr job)
            {
                TerminateJobObject(job, 1);
            }

            public static void Close(IntPtr job)
            {
                CloseHandle(job);
            }

            [StructLayout(LayoutKind.Sequential)]
            private struct BasicLimits
            {
                public long PerProcessUserTimeLimit;
                public long PerJobUserTimeLimit;
                public uint LimitFlags;
                public UIntPtr MinimumWorkingSetSize;
                public UIntPtr MaximumWorkingSetSize;
                public uint ActiveProcessLimit;
                public UIntPtr Affinity;
                public uint PriorityClass;
                public uint SchedulingClass;
            }

            [StructLayout(LayoutKind.Sequential)]
            private struct IoCounters
            {
                public ulong ReadOperationCount;
                public ulong WriteOperationCount;
                public ulong OtherOperationCount;
                public ulong ReadTransferCount;
                public ulong WriteTransferCount;
                public ulong OtherTransferCount;
            }

            [StructLayout(LayoutKind.Sequential)]
            private struct ExtendedLimits
            {
                public BasicLimits Basic;
                public IoCounters Io;
                public UIntPtr ProcessMemoryLimit;
                public UIntPtr JobMemoryLimit;
                public UIntPtr PeakProcessMemoryUsed;
                public UIntPtr PeakJobMemoryUsed;
            }

            [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
            private static extern IntPtr CreateJobObject(IntPtr attributes, string name);

            [DllImport("kernel32.dll", SetLastError = true)]
            private static extern bool SetInformationJobObject(IntPtr job, int infoClass, IntPtr info, uint length);

            [DllImport("kernel32.dll", SetLastError = true)]
            private static extern bool AssignProcessToJobObject(IntPtr job, IntPtr process);

            [DllImport("kernel32.dll", SetLastError = true)]
            private static extern bool TerminateJobObject(IntPtr job, uint exitCode);

            [DllImport("kernel32.dll", SetLastError = true)]
            private static extern IntPtr OpenProcess(uint access, bool inheritHandle, uint processId);

            [DllImport("kernel32.dll", SetLastError = true)]
            private static extern bool IsProcessInJob(IntPtr process, IntPtr job, out bool result);

            [DllImport("kernel32.dll", SetLastError = true)]
            private static extern bool CloseHandle(IntPtr handle);
        }
    }
}
