using System.Collections.Generic;

namespace HfWorker.Tests.Support
{
    internal static class Params
    {
        /// <summary>A params map from alternating keys and values: <c>Params.Of("seconds", 1, "progress_interval", 0.1)</c>.</summary>
        public static Dictionary<string, object> Of(params object[] keysAndValues)
        {
            var map = new Dictionary<string, object>();
            for (int i = 0; i < keysAndValues.Length; i += 2) map[(string)keysAndValues[i]] = keysAndValues[i + 1];
            return map;
        }
    }
}
