using System;
using System.Threading;
using System.Threading.Tasks;

namespace HfWorker.Models
{
    /// <summary>
    /// A model loaded through <see cref="HfModels.LoadAsync"/>: on one worker, or on every worker of a pool
    /// (and again on each replacement), each with its own handle. Pass it to the task methods; unload it
    /// with <see cref="UnloadAsync"/>.
    /// </summary>
    public sealed class LoadedModel
    {
        private readonly IWorkerSetup<ModelInfo> _setup;

        /// <summary>
        /// The model that <paramref name="setup"/> loaded on each worker (what <see cref="HfModels.LoadAsync"/>
        /// builds from <see cref="IWorkerInvoker.SetUpAsync{T}"/>; a fake invoker's set-up works too).
        /// </summary>
        public LoadedModel(IWorkerSetup<ModelInfo> setup)
        {
            if (setup == null) throw new ArgumentNullException("setup");
            if (setup.AnyResult == null) throw new ArgumentException("the set-up has no result on any worker", "setup");
            _setup = setup;
            Info = setup.AnyResult;
        }

        /// <summary>
        /// A model with one handle whatever the worker: what a fake <see cref="IHfModels"/> returns in a test.
        /// <see cref="UnloadAsync"/> does nothing.
        /// </summary>
        public LoadedModel(ModelInfo info)
        {
            if (info == null) throw new ArgumentNullException("info");
            if (info.Handle == null) throw new ArgumentException("the model needs a handle", "info");
            Info = info;
        }

        /// <summary>What the worker said when it loaded the model (the first worker's account; handles differ per worker).</summary>
        public ModelInfo Info { get; private set; }

        /// <summary>The model id or folder as loaded.</summary>
        public string Name
        {
            get { return Info.Model; }
        }

        /// <summary>The task it runs (aliases resolved), e.g. "sentence-embeddings".</summary>
        public string Task
        {
            get { return Info.Task; }
        }

        /// <summary>
        /// The model's handle on <paramref name="worker"/> (handles differ between the workers of a pool). Throws
        /// <see cref="InvalidOperationException"/> for a worker it was not loaded on, <see cref="ObjectDisposedException"/>
        /// once unloaded.
        /// </summary>
        public string HandleOn(WorkerProcess worker)
        {
            return _setup == null ? Info.Handle : _setup.ResultOn(worker).Handle;
        }

        /// <summary>Unload it from every worker (one reference each) and stop loading it on new ones.</summary>
        public Task UnloadAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            return _setup == null ? System.Threading.Tasks.Task.FromResult(true) : _setup.RemoveAsync(cancellationToken);
        }

        /// <inheritdoc />
        public override string ToString()
        {
            return Name + " (" + Task + ")";
        }
    }
}
