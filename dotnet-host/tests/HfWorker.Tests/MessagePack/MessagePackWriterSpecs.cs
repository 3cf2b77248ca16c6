using System;
using System.Collections;
using System.Collections.Generic;
using HfWorker.Exceptions;
using HfWorker.MessagePack;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.MessagePack
{
    [TestFixture]
    public class MessagePackWriterSpecs
    {
        private sealed class Point : IMessagePackWritable
        {
            public void WriteTo(MessagePackWriter writer)
            {
                writer.WriteMapHeader(2);
                writer.WriteString("x");
                writer.WriteInt64(1);
                writer.WriteString("y");
                writer.WriteInt64(-1);
            }
        }

        [Test]
        public void Plain_dotnet_values_are_written_as_their_natural_msgpack_types()
        {
            Assert.That(Values.ToHex(Values.Encode(new Dictionary<string, object>
            {
                { "a", 1 }, { "b", 2.5 }, { "c", "x" }, { "d", new byte[] { 9 } }, { "e", new[] { 1, 2 } }, { "f", null }, { "g", true },
            })), Is.EqualTo("87a16101a162cb4004000000000000a163a178a164c40109a1659201 02a166c0a167c3".Replace(" ", "")));
        }

        [Test]
        public void Every_integer_type_is_written_in_the_shortest_form()
        {
            Assert.That(Values.ToHex(Values.Encode(new object[] { (byte)200, (sbyte)-5, (short)-300, (ushort)300, 70000u, 5000000000UL, -5000000000L })),
                Is.EqualTo("97" + "ccc8" + "fb" + "d1fed4" + "cd012c" + "ce00011170" + "cf000000012a05f200" + "d3fffffffed5fa0e00"));
        }

        [Test]
        public void Any_enumerable_is_an_array_and_any_dictionary_a_map()
        {
            Assert.That(Values.ToHex(Values.Encode(new List<string> { "a" })), Is.EqualTo("91a161"));
            Assert.That(Values.ToHex(Values.Encode(YieldTwo())), Is.EqualTo("920102"));
            Assert.That(Values.ToHex(Values.Encode(new Hashtable { { 1, 2 } })), Is.EqualTo("810102"));
        }

        private static IEnumerable<int> YieldTwo()
        {
            yield return 1;
            yield return 2;
        }

        [Test]
        public void A_type_that_writes_itself_is_written_by_its_own_code()
        {
            Assert.That(Values.ToHex(Values.Encode(new Point())), Is.EqualTo("82a17801a179ff"));
        }

        [Test]
        public void A_type_it_cannot_write_is_refused_with_advice_instead_of_being_reflected_over()
        {
            var error = Assert.Throws<MessagePackException>(() => Values.Encode(new { name = "anonymous" }));
            Mentions.All(error.Message, "IMessagePackWritable");
        }

        [Test]
        public void A_lone_surrogate_is_refused_as_the_worker_would_refuse_it()
        {
            Assert.Throws<MessagePackException>(() => Values.Encode("\ud800"));
        }

        [Test]
        public void A_cycle_is_refused_instead_of_overflowing_the_stack()
        {
            var list = new List<object>();
            list.Add(list);
            Assert.Throws<MessagePackException>(() => Values.Encode(list));
        }

        [Test]
        public void NaN_is_written_as_the_quiet_nan_python_writes()
        {
            Assert.That(Values.ToHex(Values.Encode(double.NaN)), Is.EqualTo("cb7ff8000000000000"));
        }

        [Test]
        public void Timestamps_use_the_shortest_of_the_three_formats()
        {
            Assert.That(Values.ToHex(Values.Encode(new MessagePackTimestamp(1, 0))), Is.EqualTo("d6ff00000001"));
            Assert.That(Values.ToHex(Values.Encode(new MessagePackTimestamp(1, 1))), Is.EqualTo("d7ff0000000400000001"));
            Assert.That(Values.ToHex(Values.Encode(new MessagePackTimestamp(-1, 0))), Is.EqualTo("c70cff00000000ffffffffffffffff"));
            var when = new DateTime(2018, 1, 2, 3, 4, 5, DateTimeKind.Utc);
            Assert.That(new MessagePackReader(Values.Encode(when)).ReadTimestamp().ToDateTime(), Is.EqualTo(when));
        }

        [Test]
        public void A_reset_writer_is_reused_from_the_start()
        {
            var writer = new MessagePackWriter(16);
            writer.WriteString(new string('x', 100));
            writer.Reset();
            writer.WriteInt64(1);
            Assert.That(writer.ToArray(), Is.EqualTo(new byte[] { 1 }));
        }
    }
}
