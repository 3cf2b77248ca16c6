using System;
using System.Collections.Generic;

namespace HfWorker.Tests.Support
{
    /// <summary>The work the abandoned-work specs abandon: a <c>test/hang</c> that ignores cancellation until released.</summary>
    internal static class AbandonedWork
    {
        /// <summary>Params of a <c>test/hang</c> that ignores cancellation until <c>test/release</c> with <paramref name="key"/>.</summary>
        public static Dictionary<string, object> Hang(string key)
        {
            return Params.Of("release", key);
        }

        public static string NewKey()
        {
            return "hang-" + Guid.NewGuid().ToString("N").Substring(0, 8);
        }
    }
}
