using System;

namespace HfWorker.Supervision
{
    /// <summary>
    /// The wait before refilling a slot: none after the first failure, then the initial delay doubling
    /// with each failure in a row, capped. A worker that ran long enough resets the count.
    /// </summary>
    internal static class RestartBackoff
    {
        public static TimeSpan Delay(int consecutiveFailures, TimeSpan initial, TimeSpan max)
        {
            if (consecutiveFailures <= 1) return TimeSpan.Zero;
            double factor = Math.Pow(2, Math.Min(consecutiveFailures - 2, 30));
            double ticks = Math.Min(initial.Ticks * factor, max.Ticks);
            return TimeSpan.FromTicks((long)ticks);
        }
    }
}
