namespace HfWorker.Provisioning
{
    /// <summary>The steps of <see cref="WorkerEnvironmentBuilder.EnsureAsync"/>, in the order they happen.</summary>
    public enum EnvironmentStage
    {
        /// <summary>Looking for a ready environment of this specification (files only: no process, no network).</summary>
        Checking,

        /// <summary>Taking the cross-process lock of this environment; waiting here means another process is building it.</summary>
        Locking,

        /// <summary>Finding a Python of the requested version on the machine, or having uv install one.</summary>
        FindingPython,

        /// <summary>Creating the virtual environment in a temporary folder.</summary>
        CreatingVenv,

        /// <summary>Resolving the requirements into a lock file (or taking the given one).</summary>
        Resolving,

        /// <summary>Installing exactly the lock file's packages.</summary>
        Installing,

        /// <summary>Checking that the environment's Python imports the worker.</summary>
        Verifying,

        /// <summary>The environment is ready (built now, or found ready).</summary>
        Ready,
    }

    /// <summary>One step of an ensure, or one line that uv (or pip) wrote while doing it.</summary>
    public sealed class EnvironmentProgress
    {
        internal EnvironmentProgress(EnvironmentStage stage, string message, string outputLine)
        {
            Stage = stage;
            Message = message;
            OutputLine = outputLine;
        }

        /// <summary>The step this report belongs to.</summary>
        public EnvironmentStage Stage { get; private set; }

        /// <summary>What is being done, in words (the step's start, or the tool that writes <see cref="OutputLine"/>).</summary>
        public string Message { get; private set; }

        /// <summary>A line uv or pip wrote (stdout or stderr), unchanged; null in the report that starts a step.</summary>
        public string OutputLine { get; private set; }

        /// <summary><c>Stage: message</c>, or <c>Stage | line</c> for a tool's output line.</summary>
        public override string ToString()
        {
            return OutputLine == null ? Stage + ": " + Message : Stage + " | " + OutputLine;
        }
    }
}
