using System;
using System.Collections.Generic;
using System.Text;

namespace HfWorker.Launch
{
    /// <summary>
    /// Joins arguments into the single string <see cref="System.Diagnostics.ProcessStartInfo.Arguments"/>
    /// takes (ArgumentList is not in netstandard2.0), so that the child receives each one intact.
    /// </summary>
    /// <remarks>
    /// Runtimes split that string differently: .NET (Framework and Core, on every OS) follows the
    /// Windows rules (double quotes, backslashes special only before a quote), while Mono on Unix
    /// splits it like a POSIX shell would. Each gets the quoting it understands.
    /// </remarks>
    internal static class CommandLine
    {
        private static readonly bool IsMono = Type.GetType("Mono.Runtime") != null;
        private static readonly bool IsWindows = System.IO.Path.DirectorySeparatorChar == '\\';

        public static string Join(IEnumerable<string> arguments)
        {
            return Join(arguments, IsMono && !IsWindows);
        }

        internal static string Join(IEnumerable<string> arguments, bool shellRules)
        {
            var text = new StringBuilder();
            foreach (string argument in arguments)
            {
                if (argument == null) throw new ArgumentException("an argument is null", "arguments");
                if (text.Length > 0) text.Append(' ');
                if (shellRules) AppendShellQuoted(text, argument);
                else AppendWindowsQuoted(text, argument);
            }
            return text.ToString();
        }

        private static void AppendShellQuoted(StringBuilder text, string argument)
        {
            if (argument.Length > 0 && IsPlain(argument))
            {
                text.Append(argument);
                return;
            }
            // Inside single quotes nothing is special; a single quote itself is closed, escaped, reopened.
            text.Append('\'').Append(argument.Replace("'", "'\\''")).Append('\'');
        }

        private static void AppendWindowsQuoted(StringBuilder text, string argument)
        {
            if (argument.Length > 0 && IsPlain(argument))
            {
                text.Append(argument);
                return;
            }
            text.Append('"');
            int backslashes = 0;
            foreach (char c in argument)
            {
                if (c == '\\')
                {
                    backslashes++;
                    continue;
                }
                if (c == '"')
                {
                    // Backslashes before a quote are doubled, and the quote itself escaped.
                    text.Append('\\', 2 * backslashes + 1);
                }
                else
                {
                    text.Append('\\', backslashes);
                }
                backslashes = 0;
                text.Append(c);
            }
            // Backslashes before the closing quote are doubled so that they do not escape it.
            text.Append('\\', 2 * backslashes).Append('"');
        }

        private static bool IsPlain(string argument)
        {
            foreach (char c in argument)
            {
                bool safe = char.IsLetterOrDigit(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '=' || c == ',' || c == '+' || c == '@';
                if (!safe || c > 127) return false;
            }
            return true;
        }
    }
}
