using System;
using System.Collections.Generic;
using HfWorker.Exceptions;
using HfWorker.MessagePack;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.MessagePack
{
    [TestFixture]
    public class MessagePackReaderSpecs
    {
        private static MessagePackReader Reader(string hex)
        {
            return new MessagePackReader(Values.FromHex(hex));
        }

        [Test]
        public void Truncated_data_is_refused_with_the_offset_instead_of_reading_past_the_end()
        {
            foreach (var hex in new[] { "", "cd00", "a561", "c40201", "dc0001", "92 01", "cb000000", "d9", "81a161" })
            {
                var error = Assert.Throws<MessagePackException>(() => Reader(hex).ReadValue(), hex);
                Mentions.Any(error.Message, "offset", "remaining");
            }
        }

        [Test]
        public void A_container_claiming_more_elements_than_bytes_left_is_refused_before_allocating()
        {
            var huge = Assert.Throws<MessagePackException>(() => Reader("ddffffffff01").ReadValue());
            Mentions.All(huge.Message, "4294967295");
            var array = Assert.Throws<MessagePackException>(() => Reader("dd7fffffff01").ReadValue());
            Mentions.All(array.Message, "2147483647 elements in 1 remaining bytes");
            var map = Assert.Throws<MessagePackException>(() => Reader("df7fffffff0101").ReadValue());
            Mentions.All(map.Message, "entries");
        }

        [Test]
        public void The_reserved_format_byte_is_refused()
        {
            var error = Assert.Throws<MessagePackException>(() => Reader("c1").ReadValue());
            Mentions.All(error.Message, "0xc1");
        }

        [Test]
        public void Invalid_utf8_in_a_string_is_refused()
        {
            Assert.Throws<MessagePackException>(() => Reader("a2c328").ReadString());
        }

        [Test]
        public void Reading_the_wrong_type_says_what_was_expected_and_what_was_found()
        {
            var error = Assert.Throws<MessagePackException>(() => Reader("a161").ReadInt64());
            Mentions.All(error.Message, "expected an integer", "found string");
        }

        [Test]
        public void Values_nested_beyond_the_depth_limit_are_refused_without_overflowing_the_stack()
        {
            var bytes = new byte[MessagePackReader.MaxDepth + 10];
            for (int i = 0; i < bytes.Length - 1; i++) bytes[i] = 0x91;
            bytes[bytes.Length - 1] = 0xc0;
            Assert.Throws<MessagePackException>(() => new MessagePackReader(bytes).ReadValue());
            Assert.Throws<MessagePackException>(() => new MessagePackReader(bytes).Skip());
        }

        [Test]
        public void Integers_too_large_for_the_type_asked_are_refused()
        {
            Assert.Throws<MessagePackException>(() => Reader("cfffffffffffffffff").ReadInt64());
            Assert.Throws<MessagePackException>(() => Reader("ce80000000").ReadInt32());
            Assert.Throws<MessagePackException>(() => Reader("ff").ReadUInt64());
            Assert.That(Reader("cfffffffffffffffff").ReadUInt64(), Is.EqualTo(ulong.MaxValue));
            Assert.That(Reader("d380000000000000000").ReadValue(), Is.EqualTo(long.MinValue));
        }

        [Test]
        public void Any_integer_format_reads_as_the_same_number()
        {
            foreach (var hex in new[] { "05", "cc05", "cd0005", "ce00000005", "cf0000000000000005", "d005", "d10005", "d200000005", "d30000000000000005" })
            {
                Assert.That(Reader(hex).ReadInt32(), Is.EqualTo(5), hex);
            }
        }

        [Test]
        public void A_number_reads_as_a_double_whether_written_as_integer_or_float()
        {
            Assert.That(Reader("2a").ReadDouble(), Is.EqualTo(42.0));
            Assert.That(Reader("ca3fc00000").ReadDouble(), Is.EqualTo(1.5));
            Assert.That(Reader("cb3ff8000000000000").ReadDouble(), Is.EqualTo(1.5));
        }

        [Test]
        public void Maps_with_string_keys_read_as_string_dictionaries_and_others_as_object_dictionaries()
        {
            Assert.That(Reader("81a16101").ReadValue(), Is.InstanceOf<Dictionary<string, object>>());
            var mixed = (Dictionary<object, object>)Reader("820102c403010203a0").ReadValue();
            Assert.That(mixed[1L], Is.EqualTo(2L));
            Assert.That(mixed[new byte[] { 1, 2, 3 }], Is.EqualTo(""));
        }

        [Test]
        public void Skip_and_ReadRaw_step_over_a_nested_value_exactly()
        {
            var reader = Reader("82a161920102a162c0" + "07");
            var raw = reader.ReadRaw();
            Assert.That(raw.Count, Is.EqualTo(9));
            Assert.That(reader.ReadInt32(), Is.EqualTo(7));
            Assert.That(reader.End, Is.True);
        }

        [Test]
        public void ReadStringSegment_gives_the_utf8_bytes_without_copying()
        {
            var bytes = Values.FromHex("a3616263");
            var segment = new MessagePackReader(bytes).ReadStringSegment();
            Assert.That(segment.Array, Is.SameAs(bytes));
            Assert.That(segment.Offset, Is.EqualTo(1));
            Assert.That(segment.Count, Is.EqualTo(3));
        }

        [Test]
        public void Nil_reads_as_null_where_a_string_or_binary_is_asked()
        {
            Assert.That(Reader("c0").ReadString(), Is.Null);
            Assert.That(Reader("c0").ReadBinary(), Is.Null);
        }

        [Test]
        public void A_reader_over_a_slice_stays_inside_the_slice()
        {
            var bytes = Values.FromHex("ff01ff");
            var reader = new MessagePackReader(bytes, 1, 1);
            Assert.That(reader.ReadInt32(), Is.EqualTo(1));
            Assert.That(reader.End, Is.True);
            Assert.Throws<MessagePackException>(() => reader.ReadValue());
        }
    }
}
