using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// One <see cref="WorkerEnvironmentBuilder.EnsureAsync"/>: find the environment ready, or build it under the
    /// lock in a temporary folder and rename it into place.
    /// </summary>
    /// <remarks>
    /// Ready means the final folder exists with its marker: the folder only appears by a rename once its marker is
    /// written, so a build killed at any point leaves a <c>.building-*</c> folder, never a final one, and the next
    /// ensure (holding the lock, so no build is running) removes it.
    /// </remarks>
    internal sealed class Provisioner
    {
        private const string BuildingInfix = ".building-";

        private readonly EnvironmentSpec _spec;
        private readonly string _cacheFolder;
        private readonly PackageSources _sources;
        private readonly string _uv;
        private readonly bool _pipOnly;
        private readonly ProgressSink _progress;

        public Provisioner(EnvironmentSpec spec, string cacheFolder, PackageSources sources, string uv, bool pipOnly, ProgressSink progress)
        {
            _spec = spec;
            _cacheFolder = Path.GetFullPath(cacheFolder);
            _sources = sources;
            _uv = uv;
            _pipOnly = pipOnly;
            _progress = progress;
        }

        public async Task<WorkerEnvironment> EnsureAsync(CancellationToken token)
        {
            token.ThrowIfCancellationRequested();
            string specification = _spec.Text();
            string name = _spec.FolderName();
            string folder = Path.Combine(_cacheFolder, name);
            _progress.Stage(EnvironmentStage.Checking, "looking for " + folder);
            if (WorkerEnvironment.IsReady(folder)) return Ready(folder, specification, false);

            Directory.CreateDirectory(_cacheFolder);
            _progress.Stage(EnvironmentStage.Locking, "taking the lock " + name + ".lock");
            using (await EnvironmentLock.AcquireAsync(Path.Combine(_cacheFolder, name + ".lock"),
                () => _progress.Stage(EnvironmentStage.Locking, "another process is building this environment: waiting for it"), token).ConfigureAwait(false))
            {
                // The process that held the lock may have just finished it.
                if (WorkerEnvironment.IsReady(folder)) return Ready(folder, specification, false);
                RemoveLeftovers(name, folder);
                string building = Path.Combine(_cacheFolder, name + BuildingInfix + Guid.NewGuid().ToString("N").Substring(0, 8));
                try
                {
                    await BuildAsync(building, specification, token).ConfigureAwait(false);
                    Directory.Move(building, folder);
                }
                catch (Exception)
                {
                    TryDelete(building);
                    throw;
                }
            }
            return Ready(folder, specification, true);
        }

        private async Task BuildAsync(string building, string specification, CancellationToken token)
        {
            var tool = Tool();
            _progress.Stage(EnvironmentStage.FindingPython, "looking for Python " + _spec.PythonVersion + " with " + tool.Description);
            string python = await tool.FindPythonAsync(_spec.PythonVersion, token).ConfigureAwait(false);

            _progress.Stage(EnvironmentStage.CreatingVenv, "creating a virtual environment with " + python);
            await tool.CreateVenvAsync(python, building, token).ConfigureAwait(false);
            string venvPython = WorkerEnvironment.PythonIn(building);
            string lockFile = Path.Combine(building, WorkerEnvironment.LockName);

            if (_spec.LockFile != null)
            {
                _progress.Stage(EnvironmentStage.Resolving, "taking the lock file " + _spec.LockFile + " as it is");
                File.Copy(_spec.LockFile, lockFile);
                await tool.InstallLockAsync(venvPython, lockFile, token).ConfigureAwait(false);
            }
            else
            {
                string requirements = Path.Combine(building, "requirements.in");
                File.WriteAllText(requirements, _spec.RequirementsText());
                await tool.ResolveAndInstallAsync(venvPython, requirements, lockFile, _spec.Torch.Label, token).ConfigureAwait(false);
            }

            _progress.Stage(EnvironmentStage.Verifying, "checking that the environment's Python imports the worker");
            await new ToolRun(_progress, EnvironmentStage.Verifying, _cacheFolder)
                .CheckedAsync("importing the worker", venvPython, new[] { "-c", "import worker, msgspec" }, token).ConfigureAwait(false);
            // Last, and inside the temporary folder: the rename makes marker and content appear together.
            File.WriteAllText(Path.Combine(building, WorkerEnvironment.MarkerName), specification);
        }

        private IEnvironmentTool Tool()
        {
            string uv = _pipOnly ? null : UvTool.Locate(_uv);
            if (uv != null) return new UvTool(uv, _sources, _progress, _cacheFolder);
            _progress.Stage(EnvironmentStage.FindingPython, _pipOnly
                ? "building with python -m venv and pip, as asked (slower than uv)"
                : "uv was not found (WithUv, HF_WORKER_UV or the PATH): falling back to python -m venv and pip, which is slower");
            return new PipTool(_sources, _progress, _cacheFolder);
        }

        private WorkerEnvironment Ready(string folder, string specification, bool built)
        {
            var environment = new WorkerEnvironment(folder, specification, built);
            _progress.Stage(EnvironmentStage.Ready, (built ? "built " : "found ready ") + environment);
            return environment;
        }

        /// <summary>Remove what killed builds of this environment left; only called with the lock held, so none of them is running.</summary>
        private void RemoveLeftovers(string name, string folder)
        {
            foreach (var leftover in Directory.GetDirectories(_cacheFolder, name + BuildingInfix + "*"))
            {
                _progress.Stage(EnvironmentStage.Locking, "removing an unfinished build: " + leftover);
                TryDelete(leftover);
            }
            // A final folder without its marker cannot come from this code; whatever put it there, it is not ready.
            if (Directory.Exists(folder)) TryDelete(folder);
        }

        private static void TryDelete(string folder)
        {
            try
            {
                if (Directory.Exists(folder)) Directory.Delete(folder, true);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                // Removed by the next ensure's clean-up.
            }
        }
    }
}
