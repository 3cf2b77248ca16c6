using System;
using System.Linq;
using System.Text;

namespace HfWorker.Tests.Media
{
    /// <summary>Just enough of PNG and WAV to check what a worker made: the headers, read by hand (no imaging library in Mono).</summary>
    internal static class MediaFiles
    {
        private static readonly byte[] PngSignature = { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };

        /// <summary>A PNG's width and height from its IHDR chunk; throws when the bytes are not a PNG.</summary>
        public static Tuple<int, int> PngSize(byte[] png)
        {
            if (png == null || png.Length < 24 || !png.Take(8).SequenceEqual(PngSignature)) throw new FormatException("not a PNG");
            if (Encoding.ASCII.GetString(png, 12, 4) != "IHDR") throw new FormatException("a PNG without IHDR first");
            return Tuple.Create(BigEndian(png, 16), BigEndian(png, 20));
        }

        /// <summary>A WAV's format: the sample format code (1 PCM, 3 IEEE float), channels, rate, bits and sample frames.</summary>
        public static WavFormat Wav(byte[] wav)
        {
            if (wav == null || wav.Length < 12 || Encoding.ASCII.GetString(wav, 0, 4) != "RIFF" || Encoding.ASCII.GetString(wav, 8, 4) != "WAVE")
            {
                throw new FormatException("not a RIFF WAVE file");
            }
            if (BitConverter.ToInt32(wav, 4) != wav.Length - 8) throw new FormatException("the RIFF size is not the file's");
            var format = new WavFormat();
            int dataBytes = -1;
            for (int at = 12; at + 8 <= wav.Length;)
            {
                string id = Encoding.ASCII.GetString(wav, at, 4);
                int size = BitConverter.ToInt32(wav, at + 4);
                if (id == "fmt ")
                {
                    format.Code = BitConverter.ToInt16(wav, at + 8);
                    format.Channels = BitConverter.ToInt16(wav, at + 10);
                    format.SamplingRate = BitConverter.ToInt32(wav, at + 12);
                    format.BitsPerSample = BitConverter.ToInt16(wav, at + 22);
                }
                else if (id == "data")
                {
                    if (at + 8 + size > wav.Length) throw new FormatException("the data chunk runs past the file");
                    dataBytes = size;
                }
                at += 8 + size + (size & 1);
            }
            if (format.SamplingRate == 0 || dataBytes < 0) throw new FormatException("a WAV without fmt or data");
            format.Frames = dataBytes / (format.Channels * format.BitsPerSample / 8);
            return format;
        }

        private static int BigEndian(byte[] bytes, int at)
        {
            return (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
        }
    }

    /// <summary>What a WAV header says.</summary>
    internal sealed class WavFormat
    {
        public int Code;
        public int Channels;
        public int SamplingRate;
        public int BitsPerSample;
        public int Frames;
    }
}
