using System.Collections.Generic;

namespace HfWorker.Exceptions
{
    /// <summary>
    /// A worker environment could not be provisioned: no Python of the requested version, a package that does not
    /// resolve, an index that cannot be reached... The message says which step failed and ends with what uv (or pip)
    /// wrote to stderr; <see cref="ToolOutput"/> has those lines.
    /// </summary>
    public sealed class EnvironmentException : HfWorkerException
    {
        /// <summary>A failure, with the tool's last output lines (may be empty).</summary>
        public EnvironmentException(string message, IReadOnlyList<string> toolOutput = null)
            : base(toolOutput == null || toolOutput.Count == 0 ? message : message + ":\n" + string.Join("\n", toolOutput))
        {
            ToolOutput = toolOutput ?? new string[0];
        }

        /// <summary>The last lines uv or pip wrote to stderr before failing; empty when no tool ran.</summary>
        public IReadOnlyList<string> ToolOutput { get; private set; }
    }
}
