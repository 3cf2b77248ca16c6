using System;
using System.Linq;
using NUnit.Framework;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// Text assertions that read the same under NUnit 2.6 (no <c>Does.Contain</c>) and NUnit 3.
    /// </summary>
    internal static class Mentions
    {
        /// <summary>The text contains every one of <paramref name="parts"/>.</summary>
        public static void All(string text, params string[] parts)
        {
            var missing = parts.Where(p => text == null || text.IndexOf(p, StringComparison.Ordinal) < 0).ToList();
            Assert.That(missing, Is.Empty, "in: " + text);
        }

        /// <summary>The text contains at least one of <paramref name="parts"/>.</summary>
        public static void Any(string text, params string[] parts)
        {
            Assert.That(parts.Any(p => text != null && text.IndexOf(p, StringComparison.Ordinal) >= 0), Is.True,
                "expected one of [" + string.Join(", ", parts) + "] in: " + text);
        }
    }
}
