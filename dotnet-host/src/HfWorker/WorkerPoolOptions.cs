using System;
using System.Threading;

namespace HfWorker
{
    /// <summary>What a full pool's callers experience when its queue is full.</summary>
    public enum QueueFullBehavior
    {
        /// <summary>The caller waits (asynchronously) for room in the queue: backpressure. The call's timeout and token still apply.</summary>
        Wait,

        /// <summary>The call fails at once with <see cref="Exceptions.PoolOverloadedException"/>.</summary>
        Throw,
    }

    /// <summary>How a <see cref="WorkerPool"/> sizes, routes, watches and restarts its workers. Every default is stated.</summary>
    public sealed class WorkerPoolOptions
    {
        /// <summary>
        /// How every worker is started (interpreter, transport, environment...). Default:
        /// <see cref="WorkerProcessOptions"/>'s defaults, except that when its <see cref="WorkerProcessOptions.Threads"/>
        /// is not set the pool gives each worker an equal share of the processors (at least one torch thread):
        /// N workers each running torch on every core would fight over them.
        /// </summary>
        public WorkerProcessOptions Worker { get; set; } = new WorkerProcessOptions();

        /// <summary>How many worker processes run. Each holds its own copy of every model loaded through the pool. Default 2.</summary>
        public int WorkerCount { get; set; } = 2;

        /// <summary>
        /// Calls a worker is given at once; the least loaded worker gets the next call, and when all are
        /// at this limit calls wait in the queue. Concurrent calls let the worker batch model runs. Default 64.
        /// A worker's load counts its abandoned calls too (<see cref="WorkerProcess.AbandonedCalls"/>: cancelled or
        /// timed out, their work still running): a worker whose abandoned work reaches this limit gets no call until
        /// some of it stops, and when every worker is full that way, calls wait in the queue and their timeouts apply.
        /// </summary>
        public int MaxCallsPerWorker { get; set; } = 64;

        /// <summary>Calls that may wait for a worker (at least 1; a call that finds a worker with room goes straight to it). Default 1024.</summary>
        public int MaxQueueLength { get; set; } = 1024;

        /// <summary>What happens to a call when the queue is full. Default <see cref="QueueFullBehavior.Wait"/>.</summary>
        public QueueFullBehavior WhenQueueFull { get; set; } = QueueFullBehavior.Wait;

        /// <summary>
        /// The timeout of calls that set none, from the moment the pool accepts the call (queueing
        /// included). When it elapses the call is cancelled on its worker and fails with
        /// <see cref="Exceptions.CallTimeoutException"/>. Default 10 minutes; <see cref="Timeout.InfiniteTimeSpan"/> disables it.
        /// </summary>
        public TimeSpan CallTimeout { get; set; } = TimeSpan.FromMinutes(10);

        /// <summary>
        /// How many times <see cref="WorkerPool.StartAsync(WorkerPoolOptions, CancellationToken)"/> tries to start each
        /// worker before that slot gives up: a worker that dies, times out or fails its handshake while starting is
        /// tried again after the restart back-off. A setting that can never work (a virtual environment that does not
        /// exist or has no python, an interpreter path that does not exist, an executable the system cannot start) is
        /// tried once, whatever this says. StartAsync waits for every slot to be ready or to give up; if one gave up,
        /// it stops the others and throws that slot's <see cref="Exceptions.WorkerStartException"/>. Default 3.
        /// </summary>
        public int StartAttempts { get; set; } = 3;

        /// <summary>How often each worker is pinged. Default 5 seconds.</summary>
        public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>
        /// How long a worker has to answer <c>worker/ping</c>. Ping is answered by the worker's reader thread, so
        /// slow calls do not delay it; only a process none of whose Python threads can run misses it. Such a worker
        /// is hung, and is killed and replaced, unless it is busy: it has calls in flight and its CPU time grew
        /// while the ping waited (a call in a C extension that holds the GIL while it computes). A busy worker is
        /// left alone (a <see cref="Diagnostics.HostEventKind.Busy"/> host event says so) and the ping is waited
        /// for again, up to <see cref="UnresponsiveLimit"/>. Default 10 seconds.
        /// </summary>
        public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>
        /// How long a busy worker (see <see cref="PingTimeout"/>) may go without answering <c>worker/ping</c> before
        /// it is killed as hung all the same: a call that computes with the GIL held for longer is taken for a
        /// runaway. At least <see cref="PingTimeout"/>; <see cref="Timeout.InfiniteTimeSpan"/> never kills a busy
        /// worker. Default 5 minutes.
        /// </summary>
        public TimeSpan UnresponsiveLimit { get; set; } = TimeSpan.FromMinutes(5);

        /// <summary>
        /// The back-off before the second consecutive restart of a slot; it doubles with each further
        /// failure (the first restart after a healthy run is immediate). Default 0.5 seconds.
        /// </summary>
        public TimeSpan RestartBackoffInitial { get; set; } = TimeSpan.FromSeconds(0.5);

        /// <summary>The cap of the restart back-off. Default 30 seconds.</summary>
        public TimeSpan RestartBackoffMax { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>A worker that ran at least this long before ending counts as healthy: its slot's back-off starts over. Default 30 seconds.</summary>
        public TimeSpan RestartBackoffResetAfter { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>
        /// Options for a pool whose workers start in a provisioned <paramref name="environment"/>
        /// (<see cref="WorkerProcessOptions.For(Provisioning.WorkerEnvironment)"/>), every other setting at its default.
        /// </summary>
        public static WorkerPoolOptions For(Provisioning.WorkerEnvironment environment)
        {
            return new WorkerPoolOptions { Worker = WorkerProcessOptions.For(environment) };
        }

        /// <summary>A copy, so that a running pool is not affected by later changes.</summary>
        public WorkerPoolOptions Clone()
        {
            var copy = (WorkerPoolOptions)MemberwiseClone();
            copy.Worker = (Worker ?? new WorkerProcessOptions()).Clone();
            return copy;
        }

        /// <summary>The worker options the pool starts its workers with (see <see cref="Worker"/>).</summary>
        internal WorkerProcessOptions WorkerOptionsForPool()
        {
            var options = Worker.Clone();
            if (!options.Threads.HasValue) options.Threads = Math.Max(1, Environment.ProcessorCount / WorkerCount);
            return options;
        }

        /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
        public void Validate()
        {
            if (Worker == null) throw new ArgumentException("Worker options are required", "Worker");
            Worker.Validate();
            if (WorkerCount < 1) throw new ArgumentException("WorkerCount must be at least 1", "WorkerCount");
            if (StartAttempts < 1) throw new ArgumentException("StartAttempts must be at least 1", "StartAttempts");
            if (MaxCallsPerWorker < 1) throw new ArgumentException("MaxCallsPerWorker must be at least 1", "MaxCallsPerWorker");
            // A call that finds no worker with room (or one pinned to a busy worker) waits there: room for one at least.
            if (MaxQueueLength < 1) throw new ArgumentException("MaxQueueLength must be at least 1", "MaxQueueLength");
            if (CallTimeout <= TimeSpan.Zero && CallTimeout != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentException("CallTimeout must be positive or Timeout.InfiniteTimeSpan", "CallTimeout");
            }
            if (HealthCheckInterval <= TimeSpan.Zero) throw new ArgumentException("HealthCheckInterval must be positive", "HealthCheckInterval");
            if (PingTimeout <= TimeSpan.Zero) throw new ArgumentException("PingTimeout must be positive", "PingTimeout");
            if (UnresponsiveLimit < PingTimeout && UnresponsiveLimit != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentException("UnresponsiveLimit must be at least PingTimeout, or Timeout.InfiniteTimeSpan", "UnresponsiveLimit");
            }
            if (RestartBackoffInitial < TimeSpan.Zero) throw new ArgumentException("RestartBackoffInitial must not be negative", "RestartBackoffInitial");
            if (RestartBackoffMax < RestartBackoffInitial) throw new ArgumentException("RestartBackoffMax must not be below RestartBackoffInitial", "RestartBackoffMax");
        }
    }
}
