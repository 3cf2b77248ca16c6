using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Provisioning
{
    /// <summary>
    /// Declares a worker environment (Python version, hf-worker requirement, extras, packages, torch build) and
    /// where its packages come from, then <see cref="EnsureAsync"/> makes it exist. Every default is stated.
    /// </summary>
    /// <remarks>
    /// The environment's folder is named by a hash of the declaration and the platform, so any number of
    /// environments live side by side in the cache folder and the same declaration always finds the same one.
    /// Indexes, find-links and the uv path are not part of that hash: they say where packages come from, not what
    /// the environment is.
    /// </remarks>
    public sealed class WorkerEnvironmentBuilder
    {
        private readonly EnvironmentSpec _spec = new EnvironmentSpec { PythonVersion = "3.11" };
        private readonly List<string> _extraIndexUrls = new List<string>();
        private readonly List<string> _findLinks = new List<string>();
        private string _indexUrl;
        private string _cacheFolder;
        private string _uv;
        private bool _pipOnly;

        /// <summary>The Python version (<c>"3.11"</c>, <c>"3.12.4"</c>). Found on the machine, or installed by uv. Default <c>"3.11"</c>.</summary>
        public WorkerEnvironmentBuilder WithPython(string version)
        {
            if (string.IsNullOrWhiteSpace(version) || !char.IsDigit(version[0])) throw new ArgumentException("a Python version such as \"3.11\"", "version");
            _spec.PythonVersion = version.Trim();
            return this;
        }

        /// <summary>
        /// The hf-worker to install: a version (<c>"0.1.0"</c>), a version range (<c>"&gt;=0.1,&lt;0.2"</c>), a local
        /// wheel, or a folder with its source. Default: the latest version the indexes have. A wheel's content is part
        /// of the environment's identity; a folder is installed as it is when the environment is first built.
        /// </summary>
        public WorkerEnvironmentBuilder WithHfWorker(string versionOrPath)
        {
            if (string.IsNullOrWhiteSpace(versionOrPath)) throw new ArgumentException("a version, a wheel or a folder", "versionOrPath");
            if (EnvironmentSpec.IsLocal(versionOrPath) && !File.Exists(versionOrPath) && !Directory.Exists(versionOrPath))
            {
                throw new ArgumentException("no wheel or folder at " + versionOrPath, "versionOrPath");
            }
            _spec.HfWorker = EnvironmentSpec.IsLocal(versionOrPath) ? Path.GetFullPath(versionOrPath) : versionOrPath.Trim();
            return this;
        }

        /// <summary>hf-worker's extras (<c>"models"</c>: torch, transformers and the bundled embedding model). Default none: the lean core.</summary>
        public WorkerEnvironmentBuilder WithExtras(params string[] extras)
        {
            foreach (var extra in extras ?? new string[0])
            {
                string name = (extra ?? "").Trim().ToLowerInvariant();
                if (name.Length == 0) throw new ArgumentException("an extra's name is empty", "extras");
                if (!_spec.Extras.Contains(name)) _spec.Extras.Add(name);
            }
            _spec.Extras.Sort(StringComparer.Ordinal);
            return this;
        }

        /// <summary>More requirements, as pip writes them (<c>"sentencepiece"</c>, <c>"numpy&lt;2"</c>). Default none.</summary>
        public WorkerEnvironmentBuilder WithPackages(params string[] requirements)
        {
            foreach (var requirement in requirements ?? new string[0])
            {
                if (string.IsNullOrWhiteSpace(requirement)) throw new ArgumentException("a requirement is empty", "requirements");
                _spec.Packages.Add(requirement.Trim());
            }
            return this;
        }

        /// <summary>The torch build (see <see cref="TorchBuild"/>). Default <see cref="TorchBuild.Auto"/>.</summary>
        public WorkerEnvironmentBuilder WithTorch(TorchBuild build)
        {
            if (build == null) throw new ArgumentNullException("build");
            _spec.Torch = build;
            return this;
        }

        /// <summary>The main package index, replacing PyPI (a company mirror). Default: uv's and pip's own (PyPI).</summary>
        public WorkerEnvironmentBuilder WithIndexUrl(string url)
        {
            _indexUrl = url;
            return this;
        }

        /// <summary>Another package index, looked at before the main one (PyTorch's CPU index: <see cref="TorchBuild.IndexUrl"/>). Default none.</summary>
        public WorkerEnvironmentBuilder WithExtraIndexUrl(string url)
        {
            if (string.IsNullOrWhiteSpace(url)) throw new ArgumentException("an index URL", "url");
            _extraIndexUrls.Add(url);
            return this;
        }

        /// <summary>A folder or page of wheels to take packages from (<c>--find-links</c>). Default none.</summary>
        public WorkerEnvironmentBuilder WithFindLinks(string folderOrUrl)
        {
            if (string.IsNullOrWhiteSpace(folderOrUrl)) throw new ArgumentException("a folder or URL", "folderOrUrl");
            _findLinks.Add(folderOrUrl);
            return this;
        }

        /// <summary>Where environments are kept. Default: <c>hf-worker/environments</c> under the user's local application data.</summary>
        public WorkerEnvironmentBuilder WithCacheFolder(string path)
        {
            _cacheFolder = path;
            return this;
        }

        /// <summary>
        /// The uv executable. Default null: the <c>HF_WORKER_UV</c> environment variable, else <c>uv</c> on the PATH, else
        /// no uv (see <see cref="WithPipOnly"/>). A path that does not exist fails the build, and only the build: a ready
        /// environment is found without uv.
        /// </summary>
        public WorkerEnvironmentBuilder WithUv(string path)
        {
            _uv = path;
            return this;
        }

        /// <summary>Build with <c>python -m venv</c> and pip even where uv is found: slower, no Python installs. Default false (used when no uv is found).</summary>
        public WorkerEnvironmentBuilder WithPipOnly()
        {
            _pipOnly = true;
            return this;
        }

        /// <summary>Install exactly this lock file (a <see cref="WorkerEnvironment.LockFile"/> from another machine) instead of resolving. Default none.</summary>
        public WorkerEnvironmentBuilder WithLockFile(string path)
        {
            if (!File.Exists(path)) throw new ArgumentException("no lock file at " + path, "path");
            _spec.LockFile = Path.GetFullPath(path);
            return this;
        }

        /// <summary>The cache folder this builder uses.</summary>
        public string CacheFolder
        {
            get { return _cacheFolder ?? DefaultCacheFolder(); }
        }

        /// <summary>The folder the environment has, or will have once ensured (a hash of the declaration).</summary>
        public string EnvironmentFolder
        {
            get { return Path.Combine(CacheFolder, _spec.FolderName()); }
        }

        /// <summary>
        /// Make the environment exist and return it. A ready one is found by its files alone (no process, no network);
        /// otherwise it is built under a cross-process lock in a temporary folder, renamed into place when complete.
        /// Throws <see cref="Exceptions.EnvironmentException"/> with uv's (or pip's) message when a step fails, and
        /// <see cref="OperationCanceledException"/> when <paramref name="token"/> is cancelled; either way uv is
        /// stopped and the temporary folder removed.
        /// </summary>
        public Task<WorkerEnvironment> EnsureAsync(IProgress<EnvironmentProgress> progress = null, CancellationToken token = default(CancellationToken))
        {
            var sources = new PackageSources(_indexUrl, _extraIndexUrls, _findLinks);
            return new Provisioner(_spec, CacheFolder, sources, _uv, _pipOnly, new ProgressSink(progress)).EnsureAsync(token);
        }

        private static string DefaultCacheFolder()
        {
            string root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            if (string.IsNullOrEmpty(root)) root = Path.GetTempPath();
            return Path.Combine(root, "hf-worker", "environments");
        }
    }
}
