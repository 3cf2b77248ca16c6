using System;
using System.Threading.Tasks;
using NUnit.Framework;

namespace HfWorker.Tests.Support
{
    /// <summary>Assert.ThrowsAsync for NUnit 2.6, which has none: the exception of exactly type T (or a subclass).</summary>
    internal static class AsyncAssert
    {
        public static async Task<T> Throws<T>(Func<Task> action) where T : Exception
        {
            try
            {
                await action();
            }
            catch (T expected)
            {
                return expected;
            }
            catch (Exception other)
            {
                Assert.Fail("expected " + typeof(T).Name + " but got " + other.GetType().Name + ": " + other.Message);
            }
            Assert.Fail("expected " + typeof(T).Name + " but nothing was thrown");
            return null;
        }

        /// <summary>Wait for a condition to hold, polling; fail with <paramref name="what"/> when it does not within the time.</summary>
        public static async Task Eventually(Func<bool> condition, TimeSpan within, string what)
        {
            var deadline = DateTime.UtcNow + within;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline) Assert.Fail("not within " + within.TotalSeconds + " s: " + what);
                await Task.Delay(20);
            }
        }
    }
}
