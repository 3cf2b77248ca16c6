using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Provisioning
{
    /// <summary>What builds an environment's pieces: uv (<see cref="UvTool"/>) or, without it, venv and pip (<see cref="PipTool"/>).</summary>
    internal interface IEnvironmentTool
    {
        /// <summary>The tool, in words, for the progress (<c>uv 0.13 at /usr/bin/uv</c>).</summary>
        string Description { get; }

        /// <summary>The path of a Python of <paramref name="version"/>; throws naming the versions found when there is none.</summary>
        Task<string> FindPythonAsync(string version, CancellationToken token);

        /// <summary>Create a virtual environment in <paramref name="folder"/> (which does not exist yet) with <paramref name="python"/>.</summary>
        Task CreateVenvAsync(string python, string folder, CancellationToken token);

        /// <summary>
        /// Install <paramref name="requirementsFile"/> into the venv of <paramref name="venvPython"/> and write the
        /// resolved set to <paramref name="lockFile"/>; with <paramref name="torchLabel"/> (<c>cpu</c>), torch is pinned to that build.
        /// </summary>
        Task ResolveAndInstallAsync(string venvPython, string requirementsFile, string lockFile, string torchLabel, CancellationToken token);

        /// <summary>Install exactly <paramref name="lockFile"/> into the venv of <paramref name="venvPython"/>.</summary>
        Task InstallLockAsync(string venvPython, string lockFile, CancellationToken token);
    }
}
