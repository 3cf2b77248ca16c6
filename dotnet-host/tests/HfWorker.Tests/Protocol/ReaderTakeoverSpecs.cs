using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Pipes;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using HfWorker.Framing;
using HfWorker.MessagePack;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;
using static HfWorker.Tests.Support.RpcCalls;

namespace HfWorker.Tests.Protocol
{
    /// <summary>
    /// Answers are handed out inline on the connection's reader, so a caller's continuation may run there: a reader
    /// held up by it (code that blocks, a write to a worker that waits for us) is taken over by another thread.
    /// </summary>
    [TestFixture]
    public class ReaderTakeoverSpecs
    {
        [Test, Timeout(20000)]
        public async Task A_continuation_runs_on_the_reader_and_one_that_blocks_on_the_next_answer_is_rescued()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var said = new TaskCompletionSource<string>();
            connection.ReaderTakenOver = line => said.TrySetResult(line);
            var first = Call(connection, "test/first");
            var firstId = (await worker.ReceiveAsync())["id"];
            bool ranOnReader = false;
            // Sync over async inside a continuation: the answer it blocks on can only come through a reader, and the
            // reader it runs on is itself. Its request is still queued behind the frame being handed out.
            var blocking = first.ContinueWith(t =>
            {
                ranOnReader = RpcConnection.OnDispatchingReader;
                return Call(connection, "test/second").Result;
            }, TaskContinuationOptions.ExecuteSynchronously);
            worker.Result(firstId, 1);
            var second = await worker.ReceiveAsync();
            Assert.That(second["method"], Is.EqualTo("test/second"), "the new reader writes what the held-up one had queued");
            worker.Result(second["id"], 2);
            Assert.That(await blocking, Is.EqualTo(2L));
            Assert.That(ranOnReader, Is.True, "the continuation ran inline where the answer was handed out");
            Assert.That(connection.TakeOvers, Is.EqualTo(1));
            Assert.That(await said.Task, Is.StringContaining("another thread reads the worker's frames now"), "and said, off the watch's thread");
            // The connection goes on serving, read by the new reader.
            var third = Call(connection, "test/third");
            worker.Result((await worker.ReceiveAsync())["id"], 3);
            Assert.That(await third, Is.EqualTo(3L));
        }

        [Test, Timeout(20000)]
        public async Task A_held_up_reader_that_sends_again_after_losing_its_turn_writes_its_request_itself()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var first = Call(connection, "test/first");
            var firstId = (await worker.ReceiveAsync())["id"];
            // Two blocking calls in a row: the second request is sent by a thread that is no longer the reader, and no
            // frame will come to make the new reader write it.
            var blocking = first.ContinueWith(t => (long)Call(connection, "test/second").Result + (long)Call(connection, "test/third").Result,
                TaskContinuationOptions.ExecuteSynchronously);
            worker.Result(firstId, 1);
            var second = await worker.ReceiveAsync();
            worker.Result(second["id"], 2);
            var third = await worker.ReceiveAsync();
            Assert.That(third["method"], Is.EqualTo("test/third"));
            worker.Result(third["id"], 3);
            Assert.That(await blocking, Is.EqualTo(5L));
        }

        /// <summary>A progress handler that holds the reader up on its first report (writing a preview to disk, say).</summary>
        private sealed class SlowFirstProgress : IProgress<object>
        {
            public readonly List<string> Seen = new List<string>();
            public Task Result;
            private int _reports;

            public void Report(object value)
            {
                if (Interlocked.Increment(ref _reports) == 1) Thread.Sleep(200);
                lock (Seen) Seen.Add("progress " + value + (Result != null && Result.IsCompleted ? " after the result" : ""));
            }
        }

        [Test, Timeout(20000)]
        public async Task A_calls_progress_and_then_its_result_keep_their_order_when_a_held_up_handler_loses_the_reader()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var progress = new SlowFirstProgress();
            var call = Call(connection, "test/stream", progress: progress);
            progress.Result = call;
            var request = await worker.ReceiveAsync();
            var token = ((Dictionary<string, object>)request["params"])["progressToken"];
            worker.Progress(token, 1);
            worker.Progress(token, 2);
            worker.Result(request["id"], "done");
            // Another call, answered behind them, is not held up by the slow handler: a new reader hands it out.
            var other = Call(connection, "test/other");
            worker.Result((await worker.ReceiveAsync())["id"], "other");
            Assert.That(await other, Is.EqualTo("other"));
            Assert.That(call.IsCompleted, Is.False, "the result waits for the progress sent before it");
            Assert.That(await call, Is.EqualTo("done"));
            lock (progress.Seen) Assert.That(progress.Seen, Is.EqualTo(new[] { "progress 1", "progress 2" }));
            Assert.That(connection.TakeOvers, Is.EqualTo(1));
        }

        [Test, Timeout(30000)]
        public async Task The_rescue_does_not_wait_for_the_takeover_handler_which_may_wait_for_the_held_up_code()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var shared = new object();
            // An application's logger behind OnHostEvent, taking a lock that the held-up continuation holds.
            connection.ReaderTakenOver = line => { lock (shared) { } };
            var first = Call(connection, "test/first");
            var firstId = (await worker.ReceiveAsync())["id"];
            var blocking = first.ContinueWith(t =>
            {
                lock (shared) return Call(connection, "test/second").Wait(TimeSpan.FromSeconds(20));
            }, TaskContinuationOptions.ExecuteSynchronously);
            worker.Result(firstId, 1);
            worker.Result((await worker.ReceiveAsync())["id"], 2);
            Assert.That(await blocking, Is.True, "answered through the new reader");
        }

        [Test, Timeout(20000)]
        public async Task Answers_reach_their_continuations_in_the_order_the_worker_sent_them()
        {
            var worker = new ScriptedWorker();
            var connection = worker.Connect();
            var seen = new List<int>();
            var calls = new List<Task>();
            var ids = new List<object>();
            for (int i = 0; i < 20; i++)
            {
                int n = i;
                calls.Add(Call(connection, "test/echo").ContinueWith(t => seen.Add(n), TaskContinuationOptions.ExecuteSynchronously));
                ids.Add((await worker.ReceiveAsync())["id"]);
            }
            for (int i = 0; i < 20; i++) worker.Result(ids[i], i);
            await Task.WhenAll(calls);
            Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 20).ToList()), "one reader, inline: no reordering by the thread pool");
        }

        /// <summary>Writes to a pipe in pieces of at most PIPE_BUF (4096 bytes on Linux), which a pipe never takes in part.</summary>
        private sealed class AtomicWrites : Stream
        {
            private const int PipeBuf = 4096;
            private readonly Stream _pipe;

            public AtomicWrites(Stream pipe)
            {
                _pipe = pipe;
            }

            public override void Write(byte[] buffer, int offset, int count)
            {
                for (int at = 0; at < count; at += PipeBuf) _pipe.Write(buffer, offset + at, Math.Min(PipeBuf, count - at));
            }

            public override void Flush()
            {
                _pipe.Flush();
            }

            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
        }

        [Test, Timeout(30000)]
        public async Task A_reader_blocked_writing_to_a_worker_that_is_blocked_writing_to_it_is_rescued()
        {
            // Real pipes, whose buffers fill (in-memory ones never do). Written a pipe's atomic unit at a time: Mono's
            // PipeStream.Write re-sends from the start of its buffer after a partial write (a blocked write interrupted
            // by the GC's signals), which corrupted a large frame now and then. Process streams and sockets, which the
            // host uses, do not go through it.
            using (var toWorkerPipe = new AnonymousPipeServerStream(PipeDirection.Out))
            using (var workerIn = new AnonymousPipeClientStream(PipeDirection.In, toWorkerPipe.ClientSafePipeHandle))
            using (var fromWorker = new AnonymousPipeServerStream(PipeDirection.In))
            using (var workerOutPipe = new AnonymousPipeClientStream(PipeDirection.Out, fromWorker.ClientSafePipeHandle))
            using (var toWorker = new AtomicWrites(toWorkerPipe))
            using (var workerOut = new AtomicWrites(workerOutPipe))
            {
                const int maxFrame = 8 << 20;
                var connection = new RpcConnection(fromWorker, toWorker, maxFrame);
                connection.StartReading();
                var workerReader = new FrameReader(workerIn, maxFrame);
                Func<Dictionary<string, object>> receive = () => (Dictionary<string, object>)new MessagePackReader(workerReader.ReadFrame()).ReadValue();
                Action<object> send = message =>
                {
                    var payload = Values.Encode(message);
                    var header = new[] { (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length };
                    workerOut.Write(header, 0, 4);
                    workerOut.Write(payload, 0, payload.Length);
                    workerOut.Flush();
                };
                var big = new string('x', 1 << 20);  // far over a pipe's buffer

                var first = Call(connection, "test/first");
                // The continuation sends a large request from the reader; the reader then writes it and blocks.
                var second = first.ContinueWith(t => Call(connection, "test/second", new Dictionary<string, object> { { "text", big } }),
                    TaskContinuationOptions.ExecuteSynchronously).Unwrap();
                // The worker's side on a thread of its own: blocking, and independent of a thread pool that earlier
                // fixtures may have left busy.
                var workerDone = new TaskCompletionSource<bool>();
                var workerThread = new Thread(() =>
                {
                    try
                    {
                        var request = receive();
                        send(new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "id", request["id"] }, { "result", 1 } });
                        // A large notification before reading again: blocked until the host reads, as the host is until we do.
                        send(new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "method", "test/big" }, { "params", new Dictionary<string, object> { { "text", big } } } });
                        var next = receive();
                        var text = (string)((Dictionary<string, object>)next["params"])["text"];
                        send(new Dictionary<string, object> { { "jsonrpc", "2.0" }, { "id", next["id"] }, { "result", text.Length } });
                        workerDone.SetResult(true);
                    }
                    catch (Exception e)
                    {
                        workerDone.TrySetException(e);
                    }
                }) { IsBackground = true };
                workerThread.Start();
                Assert.That(await first, Is.EqualTo(1L));
                Assert.That(await second, Is.EqualTo((long)big.Length), "both directions moved again");
                await workerDone.Task;
                Assert.That(connection.TakeOvers, Is.GreaterThanOrEqualTo(1), "the reader blocked in its write was taken over");
            }
        }
    }
}
