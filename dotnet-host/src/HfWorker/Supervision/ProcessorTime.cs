using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;

namespace HfWorker.Supervision
{
    /// <summary>
    /// The CPU time a process has used so far (all its threads, user and kernel), which tells a worker busy with a
    /// call that holds the GIL (its CPU time grows) from a frozen one (stopped, deadlocked, blocked in a system call).
    /// </summary>
    /// <remarks>
    /// Linux: read from <c>/proc/PID/stat</c>, because Mono's <see cref="Process.TotalProcessorTime"/> is always zero
    /// for another process (Mono 6.8). Elsewhere <see cref="Process.TotalProcessorTime"/>, which .NET implements on
    /// Windows and macOS; a reading of zero is taken as "not available" (a Python process has used CPU by the time
    /// it answers its first ping).
    /// </remarks>
    internal static class ProcessorTime
    {
        // The unit of /proc's utime and stime: USER_HZ, which the kernel's ABI fixes at 100 on every architecture .NET runs on.
        private const double ClockTicksPerSecond = 100;
        private static readonly bool HasProcFileSystem = File.Exists("/proc/self/stat");

        /// <summary>The process's CPU time so far, or null when it cannot be read (gone, or not available on this platform).</summary>
        public static TimeSpan? Of(int processId)
        {
            try
            {
                return HasProcFileSystem ? FromProcStat(processId) : FromProcess(processId);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is ArgumentException
                || e is InvalidOperationException || e is FormatException || e is NotSupportedException
                || e is System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }

        /// <summary>
        /// True when the CPU time grew by at least a twentieth of <paramref name="wall"/> (a spinning thread that gets a
        /// fair share of a busy machine's cores stays well above it, and a frozen Python process stays well below: its
        /// threads waiting for the GIL wake every 5 ms, about 1% of a core).
        /// </summary>
        public static bool Advanced(TimeSpan? before, TimeSpan? after, TimeSpan wall)
        {
            if (!before.HasValue || !after.HasValue) return false;
            var needed = TimeSpan.FromTicks(Math.Max(wall.Ticks / 20, TimeSpan.FromMilliseconds(20).Ticks));
            return after.Value - before.Value >= needed;
        }

        private static TimeSpan FromProcStat(int processId)
        {
            var stat = File.ReadAllText("/proc/" + processId.ToString(CultureInfo.InvariantCulture) + "/stat");
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields count from the last ')'.
            var fields = stat.Substring(stat.LastIndexOf(')') + 2).Split(' ');
            // Fields 14 and 15 of proc(5), utime and stime; fields[0] is field 3, the state.
            long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / ClockTicksPerSecond);
        }

        private static TimeSpan? FromProcess(int processId)
        {
            using (var process = Process.GetProcessById(processId))
            {
                var time = process.TotalProcessorTime;
                return time > TimeSpan.Zero ? time : (TimeSpan?)null;
            }
        }
    }
}
