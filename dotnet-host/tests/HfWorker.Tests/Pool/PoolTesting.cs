using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading.Tasks;
using HfWorker.Tests.Support;

namespace HfWorker.Tests.Pool
{
    internal static class PoolTesting
    {
        /// <summary>A pool of test workers with supervision quick enough for tests.</summary>
        public static Task<WorkerPool> Start(int workers = 2, Action<WorkerPoolOptions> configure = null)
        {
            return WorkerPool.StartAsync(Options(workers, configure));
        }

        /// <summary>The options <see cref="Start"/> uses.</summary>
        public static WorkerPoolOptions Options(int workers = 2, Action<WorkerPoolOptions> configure = null)
        {
            var options = new WorkerPoolOptions
            {
                Worker = TestEnvironment.Worker(),
                WorkerCount = workers,
                HealthCheckInterval = TimeSpan.FromMilliseconds(250),
                PingTimeout = TimeSpan.FromSeconds(2),
                RestartBackoffInitial = TimeSpan.FromMilliseconds(100),
                RestartBackoffMax = TimeSpan.FromSeconds(1),
                CallTimeout = TimeSpan.FromSeconds(30),
            };
            if (configure != null) configure(options);
            return options;
        }

        public static Invocation<object> Call(string method, Dictionary<string, object> parameters, bool safeToRetry = false, TimeSpan? timeout = null)
        {
            return new Invocation<object>(method, parameters, r => r.ReadValue()) { SafeToRetry = safeToRetry, Timeout = timeout };
        }

        public static void KillFromOutside(WorkerProcess worker)
        {
            using (var process = Process.GetProcessById(worker.ProcessId)) process.Kill();
        }
    }
}
