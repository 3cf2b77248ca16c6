using System;
using System.Collections.Generic;

namespace HfWorker.Provisioning
{
    /// <summary>Reads the packages of a requirements lock file (<c>uv pip compile</c> or <c>pip freeze</c> output).</summary>
    internal static class LockFileText
    {
        public static List<InstalledPackage> Packages(string text)
        {
            var packages = new List<InstalledPackage>();
            foreach (var raw in text.Split('\n'))
            {
                string line = raw.Trim();
                // Comments, "# via" annotations, options (--index-url ...) and continuation lines carry no package.
                if (line.Length == 0 || line[0] == '#' || line[0] == '-' || char.IsWhiteSpace(raw.Length > 0 ? raw[0] : 'x')) continue;
                int comment = line.IndexOf(" #", StringComparison.Ordinal);
                if (comment >= 0) line = line.Substring(0, comment);
                int marker = line.IndexOf(';');
                if (marker >= 0) line = line.Substring(0, marker);
                line = line.TrimEnd('\\', ' ');
                int at = line.IndexOf(" @ ", StringComparison.Ordinal);
                int pin = line.IndexOf("==", StringComparison.Ordinal);
                if (at > 0) packages.Add(new InstalledPackage(line.Substring(0, at).Trim(), line.Substring(at + 3).Trim()));
                else if (pin > 0) packages.Add(new InstalledPackage(line.Substring(0, pin).Trim(), line.Substring(pin + 2).Trim()));
            }
            return packages;
        }

        /// <summary>The version pinned for <paramref name="name"/>, or null.</summary>
        public static string VersionOf(string text, string name)
        {
            foreach (var package in Packages(text))
            {
                if (string.Equals(package.Name, name, StringComparison.OrdinalIgnoreCase)) return package.Version;
            }
            return null;
        }
    }
}
