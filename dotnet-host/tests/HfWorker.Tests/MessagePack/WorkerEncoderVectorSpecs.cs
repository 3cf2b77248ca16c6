using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using HfWorker.MessagePack;
using HfWorker.Protocol;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.MessagePack
{
    /// <summary>
    /// Byte-for-byte interoperability with the worker: vectors encoded by the worker's own codec
    /// (msgspec, through worker.rpc.codec.Codec) are generated at test time by make_vectors.py; the host
    /// must decode each to its value, and encode that value (and the requests) to the very same bytes.
    /// </summary>
    [TestFixture]
    public class WorkerEncoderVectorSpecs
    {
        private static readonly Lazy<List<Dictionary<string, object>>> Vectors = new Lazy<List<Dictionary<string, object>>>(() =>
        {
            var document = (Dictionary<string, object>)MiniJson.Parse(File.ReadAllText(TestEnvironment.WorkerVectors));
            return ((object[])document["vectors"]).Cast<Dictionary<string, object>>().ToList();
        });

        private static IEnumerable<Dictionary<string, object>> OfKind(string kind)
        {
            return Vectors.Value.Where(v => (string)v["kind"] == kind);
        }

        private static byte[] Bytes(Dictionary<string, object> vector)
        {
            return Values.FromHex((string)vector["msgpack"]);
        }

        [Test, Timeout(60000)]
        public void The_worker_wrote_vectors_of_every_kind()
        {
            var kinds = Vectors.Value.Select(v => (string)v["kind"]).Distinct().OrderBy(k => k).ToArray();
            Assert.That(kinds, Is.EqualTo(new[] { "batch", "error", "notification", "request", "response", "value" }));
            Assert.That(Vectors.Value.Count, Is.GreaterThan(100));
        }

        [Test, Timeout(60000)]
        public void Every_vector_decodes_to_the_value_the_worker_encoded()
        {
            var failures = new List<string>();
            foreach (var vector in Vectors.Value)
            {
                var expected = Values.Untag(vector["value"]);
                var reader = new MessagePackReader(Bytes(vector));
                var actual = reader.ReadValue();
                if (!Values.Same(actual, expected) || !reader.End) failures.Add(vector["name"] + ": read " + Values.Show(actual) + ", expected " + Values.Show(expected));
            }
            Assert.That(failures, Is.Empty);
        }

        [Test, Timeout(60000)]
        public void Every_value_encodes_to_exactly_the_bytes_the_worker_wrote()
        {
            var failures = new List<string>();
            foreach (var vector in Vectors.Value)
            {
                var expected = Bytes(vector);
                var encoded = Values.Encode(Values.Untag(vector["value"]));
                if (!encoded.SequenceEqual(expected))
                {
                    failures.Add(vector["name"] + ": wrote " + Shorten(Values.ToHex(encoded)) + ", the worker wrote " + Shorten(Values.ToHex(expected)));
                }
            }
            Assert.That(failures, Is.Empty);
        }

        [Test, Timeout(60000)]
        public void A_request_written_by_the_host_is_the_request_the_worker_would_write()
        {
            foreach (var vector in OfKind("request"))
            {
                var message = (Dictionary<string, object>)Values.Untag(vector["value"]);
                object parameters;
                message.TryGetValue("params", out parameters);
                long? token = null;
                var map = parameters as Dictionary<string, object>;
                if (map != null && map.ContainsKey("progressToken"))
                {
                    token = (long)map["progressToken"];
                    map = map.Where(p => p.Key != "progressToken").ToDictionary(p => p.Key, p => p.Value);
                    parameters = map.Count == 0 ? null : map;
                }
                var writer = new MessagePackWriter();
                OutgoingMessages.WriteRequest(writer, (long)message["id"], (string)message["method"], parameters, token);
                Assert.That(Values.ToHex(writer.ToArray()), Is.EqualTo(Values.ToHex(Bytes(vector))), (string)vector["name"]);
            }
        }

        [Test, Timeout(60000)]
        public void A_cancel_notification_written_by_the_host_is_the_one_the_worker_expects()
        {
            var vector = OfKind("notification").Single(v => (string)v["name"] == "notification: cancel");
            var writer = new MessagePackWriter();
            OutgoingMessages.WriteCancel(writer, 5);
            Assert.That(Values.ToHex(writer.ToArray()), Is.EqualTo(Values.ToHex(Bytes(vector))));
        }

        [Test, Timeout(60000)]
        public void Responses_errors_and_notifications_from_the_worker_are_understood()
        {
            foreach (var vector in OfKind("response").Concat(OfKind("error")).Concat(OfKind("notification")))
            {
                var value = (Dictionary<string, object>)Values.Untag(vector["value"]);
                if ((string)vector["name"] == "notification: cancel") continue; // sent by hosts, not by the worker
                var message = IncomingMessage.ParseFrame(Bytes(vector)).Single();
                string name = (string)vector["name"];
                switch ((string)vector["kind"])
                {
                    case "response":
                        Assert.That(message.Kind, Is.EqualTo(IncomingKind.Result), name);
                        Assert.That(message.Id, Is.EqualTo(value["id"]), name);
                        Assert.That(Values.Same(new MessagePackReader(message.Result).ReadValue(), value["result"]), name);
                        break;
                    case "error":
                        var error = (Dictionary<string, object>)value["error"];
                        Assert.That(message.Kind, Is.EqualTo(IncomingKind.Error), name);
                        Assert.That(message.Id, Is.EqualTo(value["id"]), name);
                        Assert.That(message.ErrorCode, Is.EqualTo(error["code"]), name);
                        Assert.That(message.ErrorMessage, Is.EqualTo(error["message"]), name);
                        object data;
                        error.TryGetValue("data", out data);
                        Assert.That(Values.Same(message.ErrorData, data), name);
                        break;
                    default:
                        Assert.That(message.Kind, Is.EqualTo(IncomingKind.Notification), name);
                        Assert.That(message.Method, Is.EqualTo(value["method"]), name);
                        Assert.That(Values.Same(new MessagePackReader(message.Params).ReadValue(), value["params"]), name);
                        break;
                }
            }
        }

        [Test, Timeout(60000)]
        public void A_progress_notification_yields_its_token_and_value()
        {
            var vector = OfKind("notification").Single(v => (string)v["name"] == "notification: progress");
            var message = IncomingMessage.ParseFrame(Bytes(vector)).Single();
            long token;
            ArraySegment<byte> value;
            Assert.That(IncomingMessage.TryReadProgress(message.Params, out token, out value), Is.True);
            Assert.That(token, Is.EqualTo(300));
            var progress = (Dictionary<string, object>)new MessagePackReader(value).ReadValue();
            Assert.That(progress["fraction"], Is.EqualTo(0.2));
        }

        [Test, Timeout(60000)]
        public void The_ready_notification_is_read_into_its_typed_form()
        {
            var vector = OfKind("notification").Single(v => (string)v["name"] == "notification: worker/ready");
            var message = IncomingMessage.ParseFrame(Bytes(vector)).Single();
            var ready = WorkerReadyInfo.From(new MessagePackReader(message.Params).ReadValue());
            Assert.That(ready.Protocol, Is.EqualTo(1));
            Assert.That(ready.ProcessId, Is.EqualTo(1234));
            Assert.That(ready.Methods, Is.EqualTo(new[] { "worker/info", "worker/ping", "worker/shutdown" }));
            Assert.That(ready.MaxFrameBytes, Is.EqualTo(268435456));
            Assert.That(ready.Supports("worker/ping"), Is.True);
        }

        [Test, Timeout(60000)]
        public void A_batch_of_responses_is_split_into_its_messages()
        {
            var vector = OfKind("batch").Single();
            var messages = IncomingMessage.ParseFrame(Bytes(vector));
            Assert.That(messages.Select(m => m.Kind), Is.EqualTo(new[] { IncomingKind.Result, IncomingKind.Error }));
            Assert.That(messages.Select(m => m.Id), Is.EqualTo(new long?[] { 1, 2 }));
        }

        private static string Shorten(string hex)
        {
            return hex.Length > 80 ? hex.Substring(0, 80) + "...(" + hex.Length / 2 + " bytes)" : hex;
        }
    }
}
