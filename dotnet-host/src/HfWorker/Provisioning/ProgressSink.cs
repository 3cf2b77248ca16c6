using System;

namespace HfWorker.Provisioning
{
    /// <summary>The caller's <see cref="IProgress{T}"/>, or nothing; a callback that throws does not stop a provisioning.</summary>
    internal sealed class ProgressSink
    {
        private readonly IProgress<EnvironmentProgress> _progress;

        public ProgressSink(IProgress<EnvironmentProgress> progress)
        {
            _progress = progress;
        }

        public void Stage(EnvironmentStage stage, string message)
        {
            Report(new EnvironmentProgress(stage, message, null));
        }

        public void Line(EnvironmentStage stage, string tool, string line)
        {
            Report(new EnvironmentProgress(stage, tool, line));
        }

        private void Report(EnvironmentProgress report)
        {
            if (_progress == null) return;
            try
            {
                _progress.Report(report);
            }
            catch (Exception)
            {
                // The caller's display failing is no reason to leave a half-built environment behind.
            }
        }
    }
}
