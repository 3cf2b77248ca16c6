using System;

namespace HfWorker.MessagePack
{
    /// <summary>
    /// The MessagePack timestamp extension (type -1): seconds since the Unix epoch and nanoseconds.
    /// Kept as two numbers because the format spans years that <see cref="DateTime"/> cannot hold.
    /// </summary>
    public struct MessagePackTimestamp : IEquatable<MessagePackTimestamp>
    {
        private const long TicksPerSecond = 10000000;
        private static readonly DateTime Epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        /// <summary>A timestamp; <paramref name="nanoseconds"/> must be below one billion.</summary>
        public MessagePackTimestamp(long seconds, uint nanoseconds)
        {
            if (nanoseconds > 999999999) throw new ArgumentOutOfRangeException("nanoseconds", "must be below 1,000,000,000");
            Seconds = seconds;
            Nanoseconds = nanoseconds;
        }

        /// <summary>Seconds since 1970-01-01T00:00:00Z (negative before it).</summary>
        public long Seconds { get; private set; }

        /// <summary>Nanoseconds within the second, 0..999,999,999.</summary>
        public uint Nanoseconds { get; private set; }

        /// <summary>The same instant as a UTC <see cref="DateTime"/> (nanoseconds truncated to 100 ns ticks).</summary>
        public DateTime ToDateTime()
        {
            return Epoch.AddTicks(checked(Seconds * TicksPerSecond) + Nanoseconds / 100);
        }

        /// <summary>The timestamp of a <see cref="DateTime"/>, converted to UTC first.</summary>
        public static MessagePackTimestamp FromDateTime(DateTime value)
        {
            long ticks = value.ToUniversalTime().Ticks - Epoch.Ticks;
            long seconds = ticks / TicksPerSecond;
            long rest = ticks % TicksPerSecond;
            if (rest < 0)
            {
                seconds -= 1;
                rest += TicksPerSecond;
            }
            return new MessagePackTimestamp(seconds, (uint)(rest * 100));
        }

        /// <inheritdoc />
        public bool Equals(MessagePackTimestamp other)
        {
            return Seconds == other.Seconds && Nanoseconds == other.Nanoseconds;
        }

        /// <inheritdoc />
        public override bool Equals(object obj)
        {
            return obj is MessagePackTimestamp && Equals((MessagePackTimestamp)obj);
        }

        /// <inheritdoc />
        public override int GetHashCode()
        {
            return Seconds.GetHashCode() * 31 + Nanoseconds.GetHashCode();
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return "timestamp(" + Seconds + "s, " + Nanoseconds + "ns)";
        }
    }
}
