using System.Collections.Generic;
using HfWorker.MessagePack;

namespace HfWorker.Models
{
    /// <summary>A label and its score (text, image and audio classification; zero-shot).</summary>
    public sealed class Classification
    {
        /// <summary>A label with its score.</summary>
        public Classification(string label, double score)
        {
            Label = label;
            Score = score;
        }

        /// <summary>The label.</summary>
        public string Label { get; private set; }

        /// <summary>Its score (a probability unless the model says otherwise).</summary>
        public double Score { get; private set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return Label + " (" + Score.ToString("0.###") + ")";
        }

        internal static Classification Read(MessagePackReader reader)
        {
            string label = null;
            double score = double.NaN;
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key == "label") label = r.ReadString();
                else if (key == "score") score = r.ReadDouble();
                else return false;
                return true;
            });
            if (label == null) throw ResultReading.Missing("a classification", "label");
            return new Classification(label, score);
        }
    }

    /// <summary>What speech recognition heard. Settable so that a fake <see cref="IHfModels"/> can make one.</summary>
    public sealed class Transcription
    {
        /// <summary>The whole text.</summary>
        public string Text { get; set; }

        /// <summary>Timestamped pieces, when timestamps were asked for; empty otherwise.</summary>
        public IReadOnlyList<TranscriptionChunk> Chunks { get; set; } = new TranscriptionChunk[0];

        /// <inheritdoc />
        public override string ToString()
        {
            return Text;
        }

        internal static Transcription Read(MessagePackReader reader)
        {
            var result = new Transcription();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key == "text") result.Text = r.ReadString();
                else if (key == "chunks") result.Chunks = ResultReading.ReadList(r, TranscriptionChunk.Read);
                else return false;
                return true;
            });
            if (result.Text == null) throw ResultReading.Missing("a transcription", "text");
            return result;
        }
    }

    /// <summary>A piece of a transcription with its start and end in seconds.</summary>
    public sealed class TranscriptionChunk
    {
        /// <summary>The text of this piece.</summary>
        public string Text { get; set; }

        /// <summary>Where it starts, in seconds.</summary>
        public double? Start { get; set; }

        /// <summary>Where it ends, in seconds (null when the model could not tell).</summary>
        public double? End { get; set; }

        internal static TranscriptionChunk Read(MessagePackReader reader)
        {
            var chunk = new TranscriptionChunk();
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key == "text")
                {
                    chunk.Text = r.ReadString();
                    return true;
                }
                if (key != "timestamp") return false;
                int n = r.ReadArrayHeader();
                for (int i = 0; i < n; i++)
                {
                    var value = ResultReading.ReadNullableDouble(r);
                    if (i == 0) chunk.Start = value;
                    else if (i == 1) chunk.End = value;
                }
                return true;
            });
            return chunk;
        }
    }

    /// <summary>One search result: the corpus row and its score.</summary>
    public sealed class SearchHit
    {
        /// <summary>A hit.</summary>
        public SearchHit(int index, double score)
        {
            Index = index;
            Score = score;
        }

        /// <summary>The row in the corpus (counted across all corpus tensors, in order).</summary>
        public int Index { get; private set; }

        /// <summary>Its score: cosine or dot (higher is better) or l2 distance (lower is better).</summary>
        public double Score { get; private set; }

        /// <inheritdoc />
        public override string ToString()
        {
            return "#" + Index + " (" + Score.ToString("0.####") + ")";
        }

        internal static SearchHit Read(MessagePackReader reader)
        {
            int index = -1;
            double score = double.NaN;
            ResultReading.ReadMap(reader, (key, r) =>
            {
                if (key == "index") index = r.ReadInt32();
                else if (key == "score") score = ResultReading.ReadNullableDouble(r) ?? double.NaN;
                else return false;
                return true;
            });
            return new SearchHit(index, score);
        }
    }
}
