using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.MessagePack;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;
using static HfWorker.Tests.Support.RpcCalls;

namespace HfWorker.Tests.Protocol
{
    /// <summary>The JSON-RPC connection against a scripted worker over in-memory pipes.</summary>
    [TestFixture]
    public class RpcConnectionSpecs
    {
        private static readonly TimeSpan NoTimeout = Timeout.InfiniteTimeSpan;

        private sealed class ListProgress : IProgress<object>
        {
            public readonly List<object> Values = new List<object>();

            public void Report(object value)
            {
                lock (Values) Values.Add(value);
            }
        }

        [Test, Timeout(10000)]
        public async Task A_request_carries_jsonrpc_an_increasing_id_the_method_and_params()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var first = Call(connection, "test/echo", new Dictionary<string, object> { { "value", 1 } });
            var request = await worker.ReceiveAsync();
            Assert.That(request["jsonrpc"], Is.EqualTo("2.0"));
            Assert.That(request["method"], Is.EqualTo("test/echo"));
            Assert.That(((Dictionary<string, object>)request["params"])["value"], Is.EqualTo(1L));
            var second = Call(connection, "worker/ping");
            var ping = await worker.ReceiveAsync();
            Assert.That((long)ping["id"], Is.GreaterThan((long)request["id"]));
            Assert.That(ping.ContainsKey("params"), Is.False, "no params are sent when there are none");
            worker.Result(request["id"], 1);
            worker.Result(ping["id"], null);
            Assert.That(await first, Is.EqualTo(1L));
            Assert.That(await second, Is.Null);
        }

        [Test, Timeout(10000)]
        public async Task Answers_in_any_order_reach_the_call_they_belong_to()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var calls = new List<Task<object>>();
            var ids = new List<object>();
            for (int i = 0; i < 5; i++)
            {
                calls.Add(Call(connection, "test/echo", new Dictionary<string, object> { { "value", i } }));
                ids.Add((await worker.ReceiveAsync())["id"]);
            }
            for (int i = 4; i >= 0; i--) worker.Result(ids[i], "answer " + i);
            for (int i = 0; i < 5; i++) Assert.That(await calls[i], Is.EqualTo("answer " + i));
            Assert.That(connection.InFlight, Is.EqualTo(0));
        }

        [Test, Timeout(10000)]
        public async Task An_error_answer_becomes_a_WorkerRpcException_with_code_type_and_message()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var call = Call(connection, "model/run");
            var id = (await worker.ReceiveAsync())["id"];
            worker.Error(id, -32004, "no model with handle 'm9'", new Dictionary<string, object> { { "type", "UnknownHandle" }, { "message", "no model" } });
            var error = await AsyncAssert.Throws<WorkerRpcException>(() => call);
            Assert.That(error.Code, Is.EqualTo(-32004));
            Assert.That(error.ErrorCode, Is.EqualTo(RpcErrorCode.UnknownHandle));
            Assert.That(error.RemoteType, Is.EqualTo("UnknownHandle"));
            Mentions.All(error.Message, "model/run", "-32004", "no model with handle 'm9'");
        }

        [Test, Timeout(10000)]
        public async Task Progress_reaches_the_call_before_its_result_and_carries_a_token_in_params()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var progress = new ListProgress();
            var call = Call(connection, "test/sleep", new Dictionary<string, object> { { "seconds", 1 } }, progress);
            var request = await worker.ReceiveAsync();
            var parameters = (Dictionary<string, object>)request["params"];
            Assert.That(parameters["progressToken"], Is.EqualTo(request["id"]));
            Assert.That(parameters["seconds"], Is.EqualTo(1L), "the caller's params are kept");
            worker.Progress(request["id"], 0.5);
            worker.Progress(request["id"], 1.0);
            worker.Progress(999, "for nobody");
            worker.Result(request["id"], "done");
            Assert.That(await call, Is.EqualTo("done"));
            Assert.That(progress.Values, Is.EqualTo(new object[] { 0.5, 1.0 }));
        }

        [Test, Timeout(10000)]
        public async Task Cancelling_ends_the_call_at_once_and_tells_the_worker_which_request_to_stop()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var cts = new CancellationTokenSource();
            var call = Call(connection, "test/sleep", null, null, cts.Token);
            var id = (await worker.ReceiveAsync())["id"];
            cts.Cancel();
            await AsyncAssert.Throws<OperationCanceledException>(() => call);
            var cancel = await worker.ReceiveAsync();
            Assert.That(cancel["method"], Is.EqualTo("$/cancelRequest"));
            Assert.That(cancel.ContainsKey("id"), Is.False, "a notification has no id");
            Assert.That(((Dictionary<string, object>)cancel["params"])["id"], Is.EqualTo(id));
            Assert.That(connection.InFlight, Is.EqualTo(1), "the worker still owes its -32800");
            worker.Error(id, -32800, "request cancelled");
            await AsyncAssert.Eventually(() => connection.InFlight == 0, TimeSpan.FromSeconds(5), "the late answer is consumed");
        }

        [Test, Timeout(10000)]
        public async Task A_call_that_outlives_its_timeout_fails_with_CallTimeoutException_and_is_cancelled()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var call = Call(connection, "test/hang", null, null, default(CancellationToken), TimeSpan.FromMilliseconds(200));
            var id = (await worker.ReceiveAsync())["id"];
            var error = await AsyncAssert.Throws<CallTimeoutException>(() => call);
            Mentions.All(error.Message, "test/hang", "200 ms");
            var cancel = await worker.ReceiveAsync();
            Assert.That(((Dictionary<string, object>)cancel["params"])["id"], Is.EqualTo(id));
        }

        [Test, Timeout(10000)]
        public async Task A_cancel_never_reaches_the_worker_before_its_own_request()
        {
            // The token fires after the call began and before its request was sent (here: while its params are
            // built). The worker ignores a cancel for an id it does not know, so one sent first leaves the request
            // to run uncancelled.
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            using (var cts = new CancellationTokenSource())
            {
                var invocation = new Invocation<object>("test/sleep", _ =>
                {
                    cts.Cancel();
                    return new Dictionary<string, object> { { "seconds", 60 } };
                }, (reader, _) => reader.ReadValue());
                var call = connection.InvokeAsync(invocation, null, NoTimeout, cts.Token);
                await AsyncAssert.Throws<OperationCanceledException>(() => call);
                var first = await worker.ReceiveAsync();
                var second = await worker.ReceiveAsync();
                Assert.That(first["method"], Is.EqualTo("test/sleep"), "the request is on the wire first");
                Assert.That(second["method"], Is.EqualTo("$/cancelRequest"));
                Assert.That(((Dictionary<string, object>)second["params"])["id"], Is.EqualTo(first["id"]));
            }
        }

        [Test, Timeout(10000)]
        public async Task When_the_stream_ends_calls_wait_for_the_owner_to_say_why_then_fail_with_that()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var ended = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            connection.Broken = e => ended.TrySetResult(e);
            var call = Call(connection, "test/crash");
            await worker.ReceiveAsync();
            worker.ToHost.CloseWriter();
            Assert.That(await ended.Task, Is.Null, "a clean end of stream");
            await Task.Delay(50);
            Assert.That(call.IsCompleted, Is.False);
            connection.Close(c => new InvalidOperationException(c.Method + " lost"));
            var error = await AsyncAssert.Throws<InvalidOperationException>(() => call);
            Assert.That(error.Message, Is.EqualTo("test/crash lost"));
            var later = await AsyncAssert.Throws<InvalidOperationException>(() => Call(connection, "worker/ping"));
            Assert.That(later.Message, Is.EqualTo("worker/ping lost"), "calls after the close fail the same way");
        }

        [Test, Timeout(10000)]
        public async Task A_frame_that_is_not_a_message_breaks_the_connection_with_a_ProtocolException()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var ended = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            connection.Broken = e => ended.TrySetResult(e);
            worker.SendRaw(new byte[] { 0xc1 });
            var error = await ended.Task;
            Assert.That(error, Is.InstanceOf<ProtocolException>());
        }

        [Test, Timeout(10000)]
        public async Task A_result_of_an_unexpected_shape_fails_only_its_own_call()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var typed = connection.InvokeAsync(new Invocation<long>("test/echo", null, r => r.ReadInt64()), null, NoTimeout, CancellationToken.None);
            var id = (await worker.ReceiveAsync())["id"];
            worker.Result(id, "not a number");
            var error = await AsyncAssert.Throws<MessagePackException>(() => typed);
            Mentions.All(error.Message, "test/echo", "expected shape");
            var next = Call(connection, "worker/ping");
            worker.Result((await worker.ReceiveAsync())["id"], "pong");
            Assert.That(await next, Is.EqualTo("pong"));
        }

        [Test, Timeout(10000)]
        public async Task Params_that_are_not_a_map_are_refused_before_anything_is_sent()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            await AsyncAssert.Throws<ArgumentException>(() => Call(connection, "test/echo", "just a string"));
            Assert.That(connection.InFlight, Is.EqualTo(0));
        }

        [Test, Timeout(10000)]
        public async Task Notifications_other_than_progress_go_to_the_notification_callback()
        {
            var worker = new ScriptedWorker();
            var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var connection = new RpcConnection(worker.ToHost, worker.FromHost, 1 << 20) { Notification = m => received.TrySetResult(m.Method) };
            connection.StartReading();
            worker.Send(new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "method", "worker/ready" }, { "params", new Dictionary<string, object>() } });
            Assert.That(await received.Task, Is.EqualTo("worker/ready"));
        }

        [Test, Timeout(10000)]
        public async Task An_answer_for_an_unknown_id_is_logged_and_ignored()
        {
            var worker = new ScriptedWorker();
            var log = new List<string>();
            var connection = worker.Connect(log);
            worker.Result(12345, "stray");
            worker.Error(null, -32700, "cannot decode msgpack");
            var call = Call(connection, "worker/ping");
            worker.Result((await worker.ReceiveAsync())["id"], "pong");
            Assert.That(await call, Is.EqualTo("pong"));
            lock (log)
            {
                Assert.That(log.Count, Is.EqualTo(2));
                Mentions.All(log[0], "12345");
                Mentions.All(log[1], "-32700", "cannot decode msgpack");
            }
        }
    }
}
