using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Workers
{
    /// <summary>A worker ends with everything it started: no process outlives it.</summary>
    [TestFixture]
    public class ProcessTreeSpecs : ScratchFolderFixture
    {
        public ProcessTreeSpecs() : base("hfw-tree-")
        {
        }

        [TestCase(WorkerTransport.Stdio), TestCase(WorkerTransport.NamedPipe), Timeout(60000)]
        public async Task A_killed_worker_leaves_no_process_it_started_behind(WorkerTransport transport)
        {
            using (var worker = await StartParent(transport))
            {
                int child = await WorkerWithChild.ChildOf(worker);
                Assert.That(WorkerWithChild.IsRunning(child), Is.True, "the child runs while the worker does");
                worker.Kill();
                await worker.WaitForExitAsync();
                await WorkerWithChild.WaitUntilGone(child);
            }
        }

        [Test, Timeout(60000)]
        public async Task A_worker_that_crashes_takes_its_children_with_it()
        {
            using (var worker = await StartParent(WorkerTransport.Stdio))
            {
                int child = await WorkerWithChild.ChildOf(worker);
                await worker.NotifyAsync("test/crash", Params.Of("exit_code", 3));
                var exit = await worker.WaitForExitAsync();
                Assert.That(exit.ExitCode, Is.EqualTo(3));
                await WorkerWithChild.WaitUntilGone(child);
            }
        }

        private Task<WorkerProcess> StartParent(WorkerTransport transport)
        {
            return WorkerProcess.StartAsync(WorkerWithChild.Options(Scratch, transport));
        }
    }
}
