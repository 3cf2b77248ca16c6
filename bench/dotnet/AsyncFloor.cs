// The floor of a C# client's worker/ping round trip under this runtime, without the host library: what issue
// 10's "WorkerProcess p50 at most 1.5x the Python client's" is up against. bench/bench_host.py compiles it
// with mcs and runs it in the same rounds as the Python client and WorkerProcess, on the same core.
//
// Three bare clients take turns against one worker (stdio, length-prefixed MessagePack), one call in flight:
//   sync     the calling thread writes the request and blocks reading the answer, as the Python client does.
//            No async API can work this way: it has no thread to block.
//   handoff  a reader thread of its own reads answers and completes the caller's Task with
//            RunContinuationsAsynchronously, so the caller's code runs on the thread pool, never on the reader.
//            This is the least an async client does that keeps a slow or blocking caller from stalling every
//            other answer (WorkerProcess's design, and StreamJsonRpc's).
//   inline   the same, but the caller's continuation runs on the reader thread itself: one thread hop less,
//            and any caller that blocks in its continuation stops all reading.
// None of them decodes the answer beyond its frame, so each is a lower bound for its design.
//
//   mono AsyncFloor.exe PYTHON [--count N] [--rounds R]
// Prints one JSON object: each design's p50 in microseconds, the median over rounds of each round's p50.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

internal static class AsyncFloor
{
    // {"jsonrpc": "2.0", "id": 1, "method": "worker/ping", "params": {"hi": 1}} in MessagePack, as the Python
    // client sends it (one id reused: there is never more than one call in flight).
    private static readonly byte[] Ping = Frame(new byte[]
    {
        0x84,
        0xa7, (byte)'j', (byte)'s', (byte)'o', (byte)'n', (byte)'r', (byte)'p', (byte)'c', 0xa3, (byte)'2', (byte)'.', (byte)'0',
        0xa2, (byte)'i', (byte)'d', 0x01,
        0xa6, (byte)'m', (byte)'e', (byte)'t', (byte)'h', (byte)'o', (byte)'d',
        0xab, (byte)'w', (byte)'o', (byte)'r', (byte)'k', (byte)'e', (byte)'r', (byte)'/', (byte)'p', (byte)'i', (byte)'n', (byte)'g',
        0xa6, (byte)'p', (byte)'a', (byte)'r', (byte)'a', (byte)'m', (byte)'s', 0x81, 0xa2, (byte)'h', (byte)'i', 0x01,
    });

    private static Stream _toWorker;
    private static Stream _fromWorker;
    private static TaskCompletionSource<byte[]> _waiting;

    private static int Main(string[] args)
    {
        if (args.Length < 1)
        {
            Console.Error.WriteLine("usage: AsyncFloor.exe PYTHON [--count N] [--rounds R]");
            return 2;
        }
        int count = Option(args, "--count", 2000, 10);
        int rounds = Option(args, "--rounds", 3, 1);
        var start = new ProcessStartInfo(args[0], "-m worker --framing length --encoding msgpack --log-level warning")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        using (var worker = Process.Start(start))
        {
            _toWorker = worker.StandardInput.BaseStream;
            _fromWorker = worker.StandardOutput.BaseStream;
            ReadFrame(_fromWorker);  // worker/ready
            _toWorker.Write(Ping, 0, Ping.Length);
            _toWorker.Flush();
            if (!IsResult(ReadFrame(_fromWorker)))
            {
                Console.Error.WriteLine("AsyncFloor: the worker did not answer worker/ping with a result");
                return 1;
            }
            var sync = new List<double>();
            var handoff = new List<double>();
            var inline = new List<double>();
            Sync(500);  // warm up the JIT and the pipes; the reader thread does not exist yet
            for (int round = 0; round < rounds; round++) sync.Add(Sync(count));
            // From here on the reader thread owns the worker's stdout.
            var reader = new Thread(ReadAnswers) { IsBackground = true, Name = "floor reader" };
            reader.Start();
            Async(500, true).Wait();
            Async(500, false).Wait();
            for (int round = 0; round < rounds; round++)
            {
                handoff.Add(Async(count, true).Result);
                inline.Add(Async(count, false).Result);
            }
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "{{\"sync_p50_us\": {0:0.0}, \"handoff_p50_us\": {1:0.0}, \"inline_p50_us\": {2:0.0}, \"count\": {3}, \"rounds\": {4}}}",
                Median(sync), Median(handoff), Median(inline), count, rounds));
            _toWorker.Close();  // the worker exits at the end of its input; the reader thread ends with it
            worker.WaitForExit();
        }
        return 0;
    }

    /// <summary>p50 in µs of <paramref name="count"/> calls, each written and read on the calling thread.</summary>
    private static double Sync(int count)
    {
        var samples = new double[count];
        var clock = new Stopwatch();
        for (int i = 0; i < count; i++)
        {
            clock.Restart();
            _toWorker.Write(Ping, 0, Ping.Length);
            _toWorker.Flush();
            ReadFrame(_fromWorker);
            samples[i] = clock.Elapsed.TotalMilliseconds * 1000;
        }
        return P50(samples);
    }

    /// <summary>p50 in µs of <paramref name="count"/> awaited calls answered through the reader thread.</summary>
    private static async Task<double> Async(int count, bool handOff)
    {
        var samples = new double[count];
        var clock = new Stopwatch();
        var options = handOff ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None;
        for (int i = 0; i < count; i++)
        {
            clock.Restart();
            var answer = new TaskCompletionSource<byte[]>(options);
            Volatile.Write(ref _waiting, answer);
            _toWorker.Write(Ping, 0, Ping.Length);
            _toWorker.Flush();
            await answer.Task;
            samples[i] = clock.Elapsed.TotalMilliseconds * 1000;
        }
        return P50(samples);
    }

    private static void ReadAnswers()
    {
        try
        {
            while (true)
            {
                var frame = ReadFrame(_fromWorker);
                Volatile.Read(ref _waiting).TrySetResult(frame);
            }
        }
        catch (EndOfStreamException)
        {
            // The worker exited after the measurements.
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Whether an answer has a "result" key (checked once: the timed loops only read frames).</summary>
    private static bool IsResult(byte[] payload)
    {
        var key = new byte[] { 0xa6, (byte)'r', (byte)'e', (byte)'s', (byte)'u', (byte)'l', (byte)'t' };
        for (int i = 0; i + key.Length <= payload.Length; i++)
        {
            if (payload.Skip(i).Take(key.Length).SequenceEqual(key)) return true;
        }
        return false;
    }

    private static byte[] Frame(byte[] payload)
    {
        var frame = new byte[payload.Length + 4];
        frame[0] = (byte)(payload.Length >> 24);
        frame[1] = (byte)(payload.Length >> 16);
        frame[2] = (byte)(payload.Length >> 8);
        frame[3] = (byte)payload.Length;
        Array.Copy(payload, 0, frame, 4, payload.Length);
        return frame;
    }

    private static byte[] ReadFrame(Stream stream)
    {
        var header = new byte[4];
        Fill(stream, header);
        int length = (header[0] << 24) | (header[1] << 16) | (header[2] << 8) | header[3];
        var payload = new byte[length];
        Fill(stream, payload);
        return payload;
    }

    private static void Fill(Stream stream, byte[] buffer)
    {
        int at = 0;
        while (at < buffer.Length)
        {
            int read = stream.Read(buffer, at, buffer.Length - at);
            if (read <= 0) throw new EndOfStreamException("the worker closed its stdout");
            at += read;
        }
    }

    private static double P50(double[] samples)
    {
        Array.Sort(samples);
        return samples[samples.Length / 2];
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static int Option(string[] args, string name, int fallback, int least)
    {
        int at = Array.IndexOf(args, name);
        int value;
        return at >= 0 && at + 1 < args.Length && int.TryParse(args[at + 1], out value) ? Math.Max(least, value) : fallback;
    }
}
