using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using HfWorker.Exceptions;
using HfWorker.Framing;
using HfWorker.Tests.Support;
using NUnit.Framework;

namespace HfWorker.Tests.Protocol
{
    [TestFixture]
    public class FramingSpecs
    {
        private static byte[] Frame(params byte[] payload)
        {
            return new[] { (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length }
                .Concat(payload).ToArray();
        }

        private static MemoryPipe PipeWith(byte[] bytes, int maxReadSize = int.MaxValue)
        {
            var pipe = new MemoryPipe { MaxReadSize = maxReadSize };
            pipe.Write(bytes, 0, bytes.Length);
            pipe.CloseWriter();
            return pipe;
        }

        [Test, Timeout(10000)]
        public void Frames_arriving_one_byte_at_a_time_are_reassembled()
        {
            var reader = new FrameReader(PipeWith(Frame(1, 2, 3).Concat(Frame(4)).ToArray(), maxReadSize: 1), 100);
            Assert.That(reader.ReadFrame(), Is.EqualTo(new byte[] { 1, 2, 3 }));
            Assert.That(reader.ReadFrame(), Is.EqualTo(new byte[] { 4 }));
            Assert.That(reader.ReadFrame(), Is.Null);
        }

        [Test, Timeout(10000)]
        public void Many_frames_in_one_read_come_out_one_by_one()
        {
            var bytes = Enumerable.Range(0, 1000).SelectMany(i => Frame((byte)i, (byte)(i >> 8))).ToArray();
            var reader = new FrameReader(PipeWith(bytes), 100);
            for (int i = 0; i < 1000; i++) Assert.That(reader.ReadFrame(), Is.EqualTo(new[] { (byte)i, (byte)(i >> 8) }));
            Assert.That(reader.ReadFrame(), Is.Null);
            Assert.That(reader.FramesRead, Is.EqualTo(1000));
        }

        [Test, Timeout(10000)]
        public void An_empty_frame_is_an_empty_payload_not_the_end()
        {
            var reader = new FrameReader(PipeWith(Frame().Concat(Frame(7)).ToArray()), 100);
            Assert.That(reader.ReadFrame(), Is.Empty);
            Assert.That(reader.ReadFrame(), Is.EqualTo(new byte[] { 7 }));
        }

        [Test, Timeout(10000)]
        public void A_frame_larger_than_the_read_buffer_arrives_intact()
        {
            var payload = Enumerable.Range(0, 300000).Select(i => (byte)(i * 7)).ToArray();
            var reader = new FrameReader(PipeWith(Frame(payload).Concat(Frame(1)).ToArray(), maxReadSize: 50000), 1 << 20);
            Assert.That(reader.ReadFrame(), Is.EqualTo(payload));
            Assert.That(reader.ReadFrame(), Is.EqualTo(new byte[] { 1 }));
        }

        [Test, Timeout(10000)]
        public void The_stream_ending_inside_a_header_is_a_protocol_error()
        {
            var reader = new FrameReader(PipeWith(new byte[] { 0, 0 }), 100);
            var error = Assert.Throws<ProtocolException>(() => reader.ReadFrame());
            Mentions.All(error.Message, "header", "2 of 4 bytes");
        }

        [Test, Timeout(10000)]
        public void The_stream_ending_inside_a_payload_is_a_protocol_error()
        {
            var reader = new FrameReader(PipeWith(new byte[] { 0, 0, 0, 5, 1, 2 }), 100);
            var error = Assert.Throws<ProtocolException>(() => reader.ReadFrame());
            Mentions.All(error.Message, "3 bytes before the end of a 5-byte frame");
        }

        [Test, Timeout(10000)]
        public void A_frame_over_the_limit_is_refused_without_allocating_it()
        {
            var reader = new FrameReader(PipeWith(new byte[] { 0xff, 0xff, 0xff, 0xff }), 1024);
            var error = Assert.Throws<ProtocolException>(() => reader.ReadFrame());
            Mentions.All(error.Message, "4294967295 bytes", "limit of 1024");
        }

        [Test, Timeout(10000)]
        public async Task Frames_written_from_many_threads_never_interleave()
        {
            var pipe = new MemoryPipe { MaxReadSize = 3 };
            var writer = new FrameWriter(pipe, 1 << 20);
            await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            {
                var frame = FrameWriter.StartFrame();
                frame.WriteString(new string((char)('a' + i % 26), 1000 + i));
                await writer.WriteAsync(frame);
            })));
            pipe.CloseWriter();
            var reader = new FrameReader(pipe, 1 << 20);
            int frames = 0;
            byte[] payload;
            while ((payload = reader.ReadFrame()) != null)
            {
                var text = new HfWorker.MessagePack.MessagePackReader(payload).ReadString();
                Assert.That(text.Distinct().Count(), Is.EqualTo(1), "a frame mixes two writers' bytes");
                frames++;
            }
            Assert.That(frames, Is.EqualTo(200));
        }

        [Test]
        public void The_header_is_the_payload_length_big_endian()
        {
            var frame = FrameWriter.StartFrame();
            frame.WriteBinary(new byte[300]);
            var bytes = FrameWriter.FinishFrame(frame);
            Assert.That(bytes.Array.Skip(bytes.Offset).Take(4).ToArray(), Is.EqualTo(new byte[] { 0, 0, 1, 47 }));
            Assert.That(bytes.Count, Is.EqualTo(4 + 303));
        }

        [Test, Timeout(10000)]
        public async Task A_message_over_the_frame_limit_is_refused_before_anything_is_written()
        {
            var sink = new MemoryStream();
            var writer = new FrameWriter(sink, 1024);
            var frame = FrameWriter.StartFrame();
            frame.WriteBinary(new byte[2000]);
            await AsyncAssert.Throws<ProtocolException>(() => writer.WriteAsync(frame));
            Assert.That(sink.Length, Is.EqualTo(0));
        }
    }
}
