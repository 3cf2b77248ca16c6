using System;
using System.Globalization;
using System.IO;

namespace HfWorker.Launch
{
    /// <summary>
    /// Whether one process descends from another, by the parent ids in Linux's <c>/proc/PID/stat</c>: a worker
    /// started through a launcher script is a child of the process the host started, not that process itself.
    /// </summary>
    internal static class ProcessAncestry
    {
        // Deeper than any launcher chain; a bound so that a loop in what /proc says cannot hold the host.
        private const int MaxDepth = 64;

        /// <summary>
        /// True when <paramref name="pid"/> is <paramref name="root"/> or one of its descendants, false when it is
        /// not (or has already gone), null where there is no <c>/proc</c> to ask.
        /// </summary>
        public static bool? Descends(int pid, int root)
        {
            if (pid == root) return true;
            if (!Directory.Exists("/proc/self")) return null;
            for (int depth = 0; depth < MaxDepth && pid > 1; depth++)
            {
                var parent = ParentOf(pid);
                if (!parent.HasValue) return false;
                pid = parent.Value;
                if (pid == root) return true;
            }
            return false;
        }

        private static int? ParentOf(int pid)
        {
            try
            {
                // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so fields count from the last ')'.
                var stat = File.ReadAllText("/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/stat");
                int end = stat.LastIndexOf(')');
                if (end < 0) return null;
                var fields = stat.Substring(end + 1).Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries);
                int parent;
                if (fields.Length < 2 || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out parent)) return null;
                return parent;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
