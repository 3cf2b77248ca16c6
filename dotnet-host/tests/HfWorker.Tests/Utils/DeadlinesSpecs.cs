using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Tests.Support;
using HfWorker.Utils;
using NUnit.Framework;

namespace HfWorker.Tests.Utils
{
    /// <summary>Call timeouts share one timer: each still fires on time, in order, and only if not withdrawn.</summary>
    [TestFixture]
    public class DeadlinesSpecs
    {
        [Test, Timeout(10000)]
        public async Task Deadlines_fire_in_the_order_they_fall_due_whatever_the_order_they_were_set()
        {
            var deadlines = new Deadlines();
            var fired = new List<int>();
            var all = new CountdownEvent(3);
            foreach (var ms in new[] { 900, 300, 600 })
            {
                int label = ms;
                deadlines.Schedule(TimeSpan.FromMilliseconds(ms), () =>
                {
                    lock (fired) fired.Add(label);
                    all.Signal();
                });
            }
            await Task.Run(() => all.Wait(5000));
            Assert.That(fired, Is.EqualTo(new[] { 300, 600, 900 }));
            Assert.That(deadlines.Pending, Is.EqualTo(0));
        }

        [Test, Timeout(10000)]
        public async Task A_deadline_never_fires_before_its_time()
        {
            var deadlines = new Deadlines();
            var clock = Stopwatch.StartNew();
            var late = new TaskCompletionSource<TimeSpan>();
            deadlines.Schedule(TimeSpan.FromSeconds(8), () => { });
            deadlines.Schedule(TimeSpan.FromMilliseconds(250), () => late.TrySetResult(clock.Elapsed));
            var firedAfter = await late.Task;
            Assert.That(firedAfter, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(250)));
            Assert.That(firedAfter, Is.LessThan(TimeSpan.FromSeconds(5)), "the earlier deadline set after a later one moves the timer forward");
        }

        [Test, Timeout(10000)]
        public async Task A_withdrawn_deadline_never_fires_and_the_others_still_do()
        {
            var deadlines = new Deadlines();
            int withdrawnRan = 0;
            var kept = new TaskCompletionSource<bool>();
            var withdrawn = deadlines.Schedule(TimeSpan.FromSeconds(1), () => Interlocked.Increment(ref withdrawnRan));
            deadlines.Schedule(TimeSpan.FromMilliseconds(1300), () => kept.TrySetResult(true));
            withdrawn.Dispose();
            Assert.That(deadlines.Pending, Is.EqualTo(1));
            Assert.That(await kept.Task, Is.True);
            await Task.Delay(100);
            Assert.That(Volatile.Read(ref withdrawnRan), Is.EqualTo(0));
        }

        [Test, Timeout(20000)]
        public async Task Thousands_of_deadlines_each_fire_exactly_once()
        {
            var deadlines = new Deadlines();
            const int count = 5000;
            var runs = new int[count];
            var all = new CountdownEvent(count);
            var random = new Random(7);
            for (int i = 0; i < count; i++)
            {
                int index = i;
                deadlines.Schedule(TimeSpan.FromMilliseconds(random.Next(0, 400)), () =>
                {
                    Interlocked.Increment(ref runs[index]);
                    all.Signal();
                });
            }
            Assert.That(await Task.Run(() => all.Wait(10000)), Is.True, "all fired");
            await Task.Delay(100);
            Assert.That(runs.All(n => n == 1), Is.True, "each exactly once");
            Assert.That(deadlines.Pending, Is.EqualTo(0));
        }

        [Test, Timeout(10000)]
        public async Task A_call_answered_in_time_withdraws_its_timeout()
        {
            // Other fixtures share the timer, so the counts are bounds: a leak would leave all 200 behind.
            int before = Deadlines.Shared.Pending;
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var calls = new List<Task<object>>();
            var ids = new List<object>();
            for (int i = 0; i < 200; i++)
            {
                calls.Add(connection.InvokeAsync(new Invocation<object>("test/echo", null, r => r.ReadValue()), null, TimeSpan.FromMinutes(5), CancellationToken.None));
                ids.Add((await worker.ReceiveAsync())["id"]);
            }
            Assert.That(Deadlines.Shared.Pending, Is.GreaterThanOrEqualTo(200), "each call's timeout is set");
            foreach (var id in ids) worker.Result(id, "done");
            foreach (var call in calls) Assert.That(await call, Is.EqualTo("done"));
            Assert.That(Deadlines.Shared.Pending, Is.LessThanOrEqualTo(before), "and withdrawn with its answer");
        }
    }
}
